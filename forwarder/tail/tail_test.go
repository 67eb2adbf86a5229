package tail

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/checkpoint"
	"github.com/spillwayhq/spillway/forwarder/intake"
	"github.com/spillwayhq/spillway/forwarder/output"
	"github.com/spillwayhq/spillway/forwarder/parser"
)

// env is a tailer over a real disk buffer in a temp dir, driven by Poll with
// a fake clock.
type env struct {
	tb      testing.TB
	dir     string
	log     string
	bufDir  string
	buf     *buffer.Buffer
	tl      *Tailer
	now     time.Time
	cfg     Config
	got     map[string]int
	written int
}

func newEnv(tb testing.TB, mod func(*Config)) *env {
	tb.Helper()
	dir := tb.TempDir()
	e := &env{tb: tb, dir: dir, log: filepath.Join(dir, "access.log"), bufDir: filepath.Join(dir, "buf"),
		now: time.Unix(1700000000, 0), got: map[string]int{}}
	e.cfg = DefaultConfig()
	e.cfg.Name, e.cfg.Paths, e.cfg.Tag, e.cfg.PosFile = "td.db1.tbl", []string{filepath.Join(dir, "*.log")}, "td.db1.tbl", filepath.Join(dir, "pos.json")
	e.cfg.ReadFromHead, e.cfg.ReadBytes, e.cfg.BatchBytes, e.cfg.RotateWait = true, 4096, 1024, time.Second
	if mod != nil {
		mod(&e.cfg)
	}
	e.start()
	tb.Cleanup(e.stop)
	return e
}

func (e *env) start() {
	e.tb.Helper()
	bc := buffer.DefaultConfig()
	bc.Dir = e.bufDir
	cp, err := checkpoint.Open(e.bufDir)
	if err != nil {
		e.tb.Fatal(err)
	}
	bc.Checkpoint = cp
	b, err := buffer.Open(bc)
	if err != nil {
		e.tb.Fatal(err)
	}
	e.buf = b
	tl, err := New(e.cfg, b, cp.Recovered(), nil)
	if err != nil {
		e.tb.Fatal(err)
	}
	tl.SetClock(func() time.Time { return e.now })
	e.tl = tl
}

// stop closes the tailer (saving positions) and the buffer.
func (e *env) stop() {
	if e.tl != nil {
		e.tl.Close()
		e.tl = nil
	}
	if e.buf != nil {
		e.buf.Close()
		e.buf = nil
	}
}

// crash drops the tailer without saving its position file.
func (e *env) crash() {
	for _, w := range e.tl.watches {
		for _, en := range w.entries {
			if en.f != nil {
				en.f.Close()
			}
		}
	}
	e.tl = nil
	e.buf.Close()
	e.buf = nil
}

func (e *env) poll() {
	e.tb.Helper()
	if err := e.tl.Poll(context.Background()); err != nil {
		e.tb.Fatalf("poll: %v", err)
	}
}

// pollPast polls, moves the clock past the rotate wait, and polls again.
func (e *env) pollPast() {
	e.tb.Helper()
	e.poll()
	e.now = e.now.Add(e.cfg.RotateWait + time.Second)
	e.poll()
}

// write appends n numbered lines to path.
func (e *env) write(path string, n int) {
	e.tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		e.tb.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "line-%06d %s\n", e.written, strings.Repeat("x", e.written%50))
		e.written++
	}
	if _, err := f.WriteString(b.String()); err != nil {
		e.tb.Fatal(err)
	}
}

// collect drains the buffer into e.got (message -> times seen).
func (e *env) collect() {
	e.tb.Helper()
	e.buf.SealAll()
	bs, err := output.NewBodies(output.DefaultConfig().Body, nil)
	if err != nil {
		e.tb.Fatal(err)
	}
	for c := e.buf.TryNext(); c != nil; c = e.buf.TryNext() {
		body, _, err := bs.Body(c, false)
		if err != nil {
			e.tb.Fatal(err)
		}
		zr, _ := gzip.NewReader(bytes.NewReader(body))
		raw, _ := io.ReadAll(zr)
		dec := msgpack.NewDecoder(bytes.NewReader(raw))
		for {
			var m map[string]any
			if err := dec.Decode(&m); err == io.EOF {
				break
			} else if err != nil {
				e.tb.Fatal(err)
			}
			msg, _ := m["message"].(string)
			e.got[msg]++
		}
		if err := e.buf.Ack(c); err != nil {
			e.tb.Fatal(err)
		}
	}
}

// exactlyOnce checks that lines [from, e.written) arrived once each and
// nothing else did.
func (e *env) exactlyOnce(from int) {
	e.tb.Helper()
	e.collect()
	missing, dups := 0, 0
	for i := from; i < e.written; i++ {
		msg := fmt.Sprintf("line-%06d %s", i, strings.Repeat("x", i%50))
		switch e.got[msg] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	if want := e.written - from; missing != 0 || dups != 0 || len(e.got) != want {
		e.tb.Fatalf("lines %d..%d: %d missing, %d duplicated, %d distinct received (want %d)", from, e.written, missing, dups, len(e.got), want)
	}
}

func TestReadFromHead(t *testing.T) {
	for _, head := range []bool{true, false} {
		t.Run(fmt.Sprint("read_from_head=", head), func(t *testing.T) {
			dir := t.TempDir()
			pre := filepath.Join(dir, "access.log")
			e0 := &env{tb: t, written: 0}
			e0.write(pre, 10)
			e := newEnv(t, func(c *Config) {
				c.ReadFromHead = head
				c.Paths = []string{filepath.Join(dir, "*.log")}
				c.PosFile = filepath.Join(dir, "pos.json")
			})
			e.log, e.written = pre, 10
			e.poll()
			e.write(pre, 5)
			e.poll()
			from := 10
			if head {
				from = 0
			}
			e.exactlyOnce(from)
		})
	}
}

func TestRotation(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *env)
	}{
		{"rename", func(e *env) {
			e.write(e.log, 100)
			e.poll()
			e.write(e.log, 50) // written before the rename, read from the old file
			mustRename(e.tb, e.log, e.log+".1")
			e.write(e.log+".1", 5) // the app still writes the old fd for a while
			e.write(e.log, 70)
			e.pollPast()
			e.write(e.log, 10)
			e.poll()
		}},
		{"copytruncate", func(e *env) {
			e.write(e.log, 100)
			e.poll()
			e.write(e.log, 40) // not yet read when the copy is made
			copyFile(e.tb, e.log, e.log+".1")
			if err := os.Truncate(e.log, 0); err != nil {
				e.tb.Fatal(err)
			}
			e.write(e.log, 30)
			e.pollPast()
			e.write(e.log, 10)
			e.poll()
		}},
		{"copy before truncate seen apart", func(e *env) {
			e.write(e.log, 100)
			e.poll()
			copyFile(e.tb, e.log, e.log+".1")
			e.poll() // the copy is seen before the truncation
			if err := os.Truncate(e.log, 0); err != nil {
				e.tb.Fatal(err)
			}
			e.write(e.log, 30)
			e.pollPast()
		}},
		{"rapid rotations between polls", func(e *env) {
			e.write(e.log, 100)
			e.poll()
			for r := 0; r < 4; r++ {
				e.write(e.log, 25)
				for i := 4; i >= 1; i-- {
					if _, err := os.Stat(fmt.Sprintf("%s.%d", e.log, i)); err == nil {
						mustRename(e.tb, fmt.Sprintf("%s.%d", e.log, i), fmt.Sprintf("%s.%d", e.log, i+1))
					}
				}
				mustRename(e.tb, e.log, e.log+".1")
			}
			e.write(e.log, 20)
			e.pollPast()
		}},
		{"restart across two rotations", func(e *env) {
			e.write(e.log, 100)
			e.poll()
			e.write(e.log, 10)
			e.stop()
			mustRename(e.tb, e.log, e.log+".1")
			e.write(e.log, 20)
			mustRename(e.tb, e.log+".1", e.log+".2")
			mustRename(e.tb, e.log, e.log+".1")
			e.write(e.log, 30)
			e.start()
			e.pollPast()
		}},
		{"file rewritten in place (inode reuse)", func(e *env) {
			e.write(e.log, 100)
			e.poll()
			f, err := os.OpenFile(e.log, os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				e.tb.Fatal(err)
			}
			f.Close()
			e.write(e.log, 200) // longer than before: only the fingerprint tells
			e.poll()
		}},
		{"deleted file released", func(e *env) {
			e.write(e.log, 100)
			e.poll()
			e.write(e.log, 5)
			if err := os.Remove(e.log); err != nil {
				e.tb.Fatal(err)
			}
			e.pollPast()
			if n := len(e.tl.Files()); n != 0 {
				e.tb.Fatalf("%d files still followed after deletion", n)
			}
			e.write(e.log, 7)
			e.now = e.now.Add(time.Minute)
			e.poll()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			tt.run(e)
			e.exactlyOnce(0)
		})
	}
}

func TestCrashBeforePositionFileWrite(t *testing.T) {
	// The buffer holds the position with the records: losing the position
	// file's last write must not cause re-reads.
	e := newEnv(t, nil)
	e.write(e.log, 100)
	e.poll()
	old, err := os.ReadFile(e.cfg.PosFile)
	if err != nil {
		t.Fatal(err)
	}
	e.write(e.log, 100)
	e.poll()
	e.crash()
	if err := os.WriteFile(e.cfg.PosFile, old, 0o600); err != nil {
		t.Fatal(err)
	}
	e.write(e.log, 10)
	e.start()
	e.poll()
	e.exactlyOnce(0)
	if fi, err := os.Stat(e.cfg.PosFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("position file mode: %v %v", fi, err)
	}
}

func TestMaxLineSize(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxLineSize = 100; c.ReadBytes = 4096 })
	long := strings.Repeat("a", 10000)
	if err := os.WriteFile(e.log, []byte("short\n"+long+"\nafter\n"+strings.Repeat("b", 150)+"\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.poll()
	e.collect()
	want := map[string]int{"short": 1, strings.Repeat("a", 100): 1, "after": 1, strings.Repeat("b", 100): 1, "end": 1}
	if fmt.Sprint(e.got) != fmt.Sprint(want) {
		t.Fatalf("got %v", e.got)
	}
	if s := e.tl.Stats(); s.TruncatedLines != 2 {
		t.Fatalf("truncated lines = %d, want 2", s.TruncatedLines)
	}
}

func TestMultiline(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MultilineStart = `^\d{4}-`; c.MultilineTimeout = 5 * time.Second })
	if err := os.WriteFile(e.log, []byte("2024-01-01 start\n  at a\n  at b\n2024-01-02 next\n  at c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.poll()
	e.collect()
	if len(e.got) != 1 || e.got["2024-01-01 start\n  at a\n  at b"] != 1 {
		t.Fatalf("before the multiline timeout: %v", e.got)
	}
	e.now = e.now.Add(6 * time.Second)
	e.poll()
	e.collect()
	if e.got["2024-01-02 next\n  at c"] != 1 {
		t.Fatalf("after the multiline timeout: %v", e.got)
	}
}

func TestParseErrorsKeptUnparsed(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Parse = parser.Config{Type: parser.TypeJSON} })
	if err := os.WriteFile(e.log, []byte("{\"a\":1}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.poll()
	if s := e.tl.Stats(); s.Lines != 2 || s.ParseErrors != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	c.Tag, c.MultilineStart, c.MaxLineSize = "two words", "(", 0
	err := c.Validate()
	for _, want := range []string{"path:", "tag:", "name:", "pos_file:", "max_line_size:", "multiline_start:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, missing %q", err, want)
		}
	}
}

func mustRename(tb testing.TB, a, b string) {
	tb.Helper()
	if err := os.Rename(a, b); err != nil {
		tb.Fatal(err)
	}
}

func copyFile(tb testing.TB, a, b string) {
	tb.Helper()
	data, err := os.ReadFile(a)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(b, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestNewFileReadFromHeadAndExclude(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.ReadFromHead = false
		c.Exclude = []string{filepath.Join(filepath.Dir(c.PosFile), "skip*.log")}
		c.RefreshInterval = time.Second
	})
	e.write(e.log, 10) // present at the first start: read from its end
	e.poll()
	other := filepath.Join(e.dir, "other.log")
	e.write(other, 20) // appears later: read from its head
	if err := os.WriteFile(filepath.Join(e.dir, "skip.log"), []byte("never\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2 * time.Second)
	e.poll()
	e.exactlyOnce(10)
}

// failingPreparer is the real disk buffer with injected failures: the commits
// whose 1-based numbers are in fail return an I/O error and store nothing.
type failingPreparer struct {
	b    *buffer.Buffer
	n    atomic.Int64
	fail map[int64]bool
}

func (f *failingPreparer) Prepare(tag string, records []byte, count int, rec []byte) (intake.Prepared, error) {
	p, err := f.b.Prepare(tag, records, count, rec)
	if err != nil {
		return nil, err
	}
	return &failingPrepared{Prepared: p, f: f}, nil
}

type failingPrepared struct {
	intake.Prepared
	f *failingPreparer
}

func (p *failingPrepared) Commit(ctx context.Context) error {
	if p.f.fail[p.f.n.Add(1)] {
		p.Discard()
		return errors.New("injected: input/output error")
	}
	return p.Prepared.Commit(ctx)
}

func TestStoreFailureRereads(t *testing.T) {
	// A batch the buffer cannot store (with the next one in flight behind
	// it) is read again at the next poll: nothing lost, nothing twice.
	for _, failAt := range []int64{1, 3, 4} {
		t.Run(fmt.Sprint("commit ", failAt), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.MaxLineSize = 1024 }) // 4 KiB read blocks: many batches
			fs := &failingPreparer{b: e.buf, fail: map[int64]bool{failAt: true}}
			tl, err := New(e.cfg, fs, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			tl.SetClock(func() time.Time { return e.now })
			e.tl = tl
			e.write(e.log, 400)
			if err := e.tl.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("first poll: %v, want the injected error", err)
			}
			e.write(e.log, 100)
			e.poll()
			if fs.n.Load() <= failAt+1 {
				t.Fatalf("only %d commits: the batches did not pipeline", fs.n.Load())
			}
			e.exactlyOnce(0)
		})
	}
}
