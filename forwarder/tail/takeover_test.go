package tail

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tdPos writes a td-agent (Fluentd in_tail) position file: one line per
// entry, path TAB %016x position TAB %016x inode.
func tdPos(tb testing.TB, path string, lines ...string) []byte {
	tb.Helper()
	data := []byte(strings.Join(lines, ""))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return data
}

func tdLine(path string, pos, ino uint64) string {
	return fmt.Sprintf("%s\t%016x\t%016x\n", path, pos, ino)
}

func inodeOf(tb testing.TB, path string) uint64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Ino)
}

func sizeOf(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}

// TestTakeover starts the tailer on a file td-agent had read part of: it
// must ship exactly the lines after td-agent's position (or, when the file
// changed since, the documented fallback) and leave td-agent's file as it was.
func TestTakeover(t *testing.T) {
	tests := []struct {
		name string
		// entry returns the td-agent position file's lines for the log
		// holding 10 lines, of which mid bytes are the first 6.
		entry func(log string, mid, size int64, ino uint64) []string
		from  int // first line expected
	}{
		{"mid-file", func(log string, mid, _ int64, ino uint64) []string {
			return []string{tdLine(log, uint64(mid), ino)}
		}, 6},
		{"at end", func(log string, _, size int64, ino uint64) []string {
			return []string{tdLine(log, uint64(size), ino)}
		}, 10},
		{"at head", func(log string, _, _ int64, ino uint64) []string {
			return []string{tdLine(log, 0, ino)}
		}, 0},
		{"unwatched entry then the live one", func(log string, mid, _ int64, ino uint64) []string {
			return []string{tdLine(log, 0xffffffffffffffff, ino+1), tdLine(log, uint64(mid), ino)}
		}, 6},
		{"inode mismatch: rotated since, read from head", func(log string, mid, _ int64, ino uint64) []string {
			return []string{tdLine(log, uint64(mid), ino+7)}
		}, 0},
		{"shorter than the position: truncated since, read from head", func(log string, _, size int64, ino uint64) []string {
			return []string{tdLine(log, uint64(size+100), ino)}
		}, 0},
		{"path not in the file: read_from_head false applies", func(log string, mid, _ int64, ino uint64) []string {
			return []string{tdLine(log+".other", uint64(mid), ino+3)}
		}, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "access.log")
			e0 := &env{tb: t}
			e0.write(log, 6)
			mid := sizeOf(t, log)
			e0.write(log, 4)
			tdFile := filepath.Join(dir, "td-agent.pos")
			want := tdPos(t, tdFile, tc.entry(log, mid, sizeOf(t, log), inodeOf(t, log))...)
			if err := os.Chmod(tdFile, 0o444); err != nil { // td-agent's file is not ours to write
				t.Fatal(err)
			}
			e := newEnv(t, func(c *Config) {
				c.ReadFromHead = false
				c.Paths = []string{filepath.Join(dir, "*.log")}
				c.PosFile = filepath.Join(dir, "pos.json")
				c.TakeoverPosFile = tdFile
			})
			e.log, e.written = log, 10
			e.poll()
			e.write(log, 5)
			e.poll()
			e.stop()
			e.start()
			e.write(log, 3)
			e.poll()
			e.exactlyOnce(tc.from)
			st := e.tl.Stats()
			if st.TakeoverResumed != 0 || st.TakeoverMismatched != 0 {
				t.Errorf("after restart stats resumed=%d mismatched=%d; the takeover must not count again", st.TakeoverResumed, st.TakeoverMismatched)
			}
			got, err := os.ReadFile(tdFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("td-agent position file changed:\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestTakeoverStats checks the counters of the first run.
func TestTakeoverStats(t *testing.T) {
	tests := []struct {
		name         string
		inoDelta     uint64
		resumed, mis uint64
	}{
		{"same inode", 0, 1, 0},
		{"other inode", 5, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "access.log")
			e0 := &env{tb: t}
			e0.write(log, 4)
			tdFile := filepath.Join(dir, "td-agent.pos")
			tdPos(t, tdFile, tdLine(log, 10, inodeOf(t, log)+tc.inoDelta))
			e := newEnv(t, func(c *Config) {
				c.Paths = []string{log}
				c.TakeoverPosFile = tdFile
			})
			e.poll()
			if st := e.tl.Stats(); st.TakeoverResumed != tc.resumed || st.TakeoverMismatched != tc.mis {
				t.Errorf("resumed=%d mismatched=%d, want %d %d", st.TakeoverResumed, st.TakeoverMismatched, tc.resumed, tc.mis)
			}
		})
	}
}

// TestTakeoverRotated: td-agent stopped while its entry still named the
// file now rotated to access.log.1 (a new access.log exists): the rotated
// file is finished from td-agent's position, the new one read from its head.
func TestTakeoverRotated(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	e0 := &env{tb: t}
	e0.write(log, 6)
	mid := sizeOf(t, log)
	e0.write(log, 4)
	tdFile := filepath.Join(dir, "td-agent.pos")
	tdPos(t, tdFile, tdLine(log, uint64(mid), inodeOf(t, log)))
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	e0.write(log, 5)
	e := newEnv(t, func(c *Config) {
		c.ReadFromHead = false
		c.Paths = []string{log}
		c.PosFile = filepath.Join(dir, "pos.json")
		c.TakeoverPosFile = tdFile
	})
	e.log, e.written = log, 15
	e.pollPast()
	e.write(log, 2)
	e.poll()
	e.exactlyOnce(6)
}

// TestPosFileIsTdAgent: pointing pos_file at a td-agent position file is
// refused at start (naming takeover_pos_file) and leaves the file intact.
func TestPosFileIsTdAgent(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "access.log")
	e0 := &env{tb: t}
	e0.write(log, 3)
	tdFile := filepath.Join(dir, "td-agent.pos")
	want := tdPos(t, tdFile, tdLine(log, 10, inodeOf(t, log)))
	cfg := DefaultConfig()
	cfg.Name, cfg.Tag, cfg.Paths, cfg.PosFile = "x", "td.db1.tbl", []string{log}, tdFile
	_, err := New(cfg, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "takeover_pos_file") {
		t.Fatalf("New: %v, want an error naming takeover_pos_file", err)
	}
	got, _ := os.ReadFile(tdFile)
	if !bytes.Equal(got, want) {
		t.Errorf("td-agent position file changed: %q", got)
	}
	cfg.TakeoverPosFile = tdFile
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "takeover_pos_file") {
		t.Errorf("Validate with pos_file == takeover_pos_file: %v", err)
	}
}

// TestParseTdAgentPos reads the format, skipping unwatched and bad lines.
func TestParseTdAgentPos(t *testing.T) {
	in := "/var/log/a.log\t0000000000000a2c\t00000000000c3a41\n" +
		"/var/log/b.log\tffffffffffffffff\t00000000000c3a42\n" +
		"garbage\n" +
		"/var/log/with space.log\t0000000000000001\t0000000000000002\n"
	got, bad := parseTdAgentPos([]byte(in))
	want := []tdPosEntry{{Path: "/var/log/a.log", Pos: 0xa2c, Ino: 0xc3a41}, {Path: "/var/log/with space.log", Pos: 1, Ino: 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) || bad != 1 {
		t.Errorf("got %v (%d bad), want %v (1 bad)", got, bad, want)
	}
}
