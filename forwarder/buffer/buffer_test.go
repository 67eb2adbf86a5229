package buffer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/checkpoint"
	"github.com/spillwayhq/spillway/forwarder/intake"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func openTest(tb testing.TB, dir string, mod func(*Config)) *Buffer {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.Dir = dir
	cp, err := checkpoint.Open(dir)
	if err != nil {
		tb.Fatalf("open checkpoint: %v", err)
	}
	cfg.Checkpoint = cp
	if mod != nil {
		mod(&cfg)
	}
	b, err := Open(cfg)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// recovered returns the positions b's checkpoint store recovered at Open.
func recovered(tb testing.TB, b *Buffer) map[string][][]byte {
	tb.Helper()
	cp, ok := b.cfg.Checkpoint.(*checkpoint.Store)
	if !ok {
		tb.Fatalf("buffer checkpoint is %T", b.cfg.Checkpoint)
	}
	return cp.Recovered()
}

// appendAt stores records with the checkpoint record of position pos under
// key.
func appendAt(tb testing.TB, b *Buffer, tag string, records []byte, count int, key, pos string) {
	tb.Helper()
	rec, err := checkpoint.NewRecord(key, []byte(pos))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := b.Prepare(tag, records, count, rec)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Commit(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// records encodes n maps {"time":t,"n":start+i}.
func records(tb testing.TB, start, n int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true) // equal records, equal bytes: chunk sizes must not vary from run to run
	for i := 0; i < n; i++ {
		if err := enc.EncodeMap(map[string]any{"time": int64(1700000000), "n": int64(start + i)}); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// chunkRecords returns the "n" values of c's records, read frame by frame
// (gzip members, zstd frames or raw msgpack).
func chunkRecords(tb testing.TB, c *Chunk) []int64 {
	tb.Helper()
	r, err := c.Read()
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	zd, err := zstd.NewReader(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer zd.Close()
	codec := r.Codec()
	var raw []byte
	if _, err := r.Each(func(p []byte, _ int) error {
		switch codec {
		case Gzip:
			zr, err := gzip.NewReader(bytes.NewReader(p))
			if err != nil {
				return err
			}
			m, err := io.ReadAll(zr)
			raw = append(raw, m...)
			return err
		case Zstd:
			raw, err = zd.DecodeAll(p, raw)
			return err
		}
		raw = append(raw, p...)
		return nil
	}); err != nil {
		tb.Fatalf("read chunk %s: %v", c.ID, err)
	}
	return decodeRaw(tb, raw)
}

// decodeRaw returns the "n" values of a msgpack map stream.
func decodeRaw(tb testing.TB, raw []byte) []int64 {
	tb.Helper()
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	var out []int64
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return out
		} else if err != nil {
			tb.Fatalf("msgpack: %v", err)
		}
		out = append(out, m["n"].(int64))
	}
}

// drain ships every queued chunk and returns the record numbers per tag.
func drain(tb testing.TB, b *Buffer) map[string][]int64 {
	tb.Helper()
	got := map[string][]int64{}
	for c := b.TryNext(); c != nil; c = b.TryNext() {
		got[c.Tag] = append(got[c.Tag], chunkRecords(tb, c)...)
		if err := b.Ack(c); err != nil {
			tb.Fatalf("ack: %v", err)
		}
	}
	return got
}

func seq(a, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(a + i)
	}
	return out
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAppendSealShip(t *testing.T) {
	tests := []struct {
		name       string
		chunkLimit int64
		batches    int
		perBatch   int
		wantChunks int
	}{
		{"one chunk", 1 << 20, 3, 10, 1},
		{"size rotation", 2048, 20, 50, 20},
		{"batches compressed in parallel parts", 64 << 20, 3, 40000, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := openTest(t, t.TempDir(), func(c *Config) { c.ChunkLimit = tt.chunkLimit })
			ctx := context.Background()
			for i := 0; i < tt.batches; i++ {
				if err := b.Append(ctx, "td.db1.tbl", records(t, i*tt.perBatch, tt.perBatch), tt.perBatch); err != nil {
					t.Fatalf("append: %v", err)
				}
			}
			b.SealAll()
			sealed, open := b.Pending()
			if sealed != tt.wantChunks || open != 0 {
				t.Fatalf("pending = %d sealed, %d open; want %d, 0", sealed, open, tt.wantChunks)
			}
			got := drain(t, b)
			if want := seq(0, tt.batches*tt.perBatch); !equal(got["td.db1.tbl"], want) {
				t.Fatalf("shipped %v, want %v", got["td.db1.tbl"], want)
			}
			if s := b.Stats(); s.Bytes != 0 {
				t.Fatalf("bytes after acks = %d", s.Bytes)
			}
		})
	}
}

func TestAppendRejectsBadTag(t *testing.T) {
	b := openTest(t, t.TempDir(), nil)
	for _, tag := range []string{"db.tbl", "td.DB.tbl", "td.ab.tbl", "td.db1.tbl.x"} {
		t.Run(tag, func(t *testing.T) {
			if err := b.Append(context.Background(), tag, records(t, 0, 1), 1); err == nil {
				t.Fatalf("append to %q succeeded", tag)
			}
		})
	}
}

func TestSealDueByAge(t *testing.T) {
	clk := &clock{t: time.Unix(1700000000, 0)}
	b := openTest(t, t.TempDir(), func(c *Config) { c.Now = clk.Now; c.SealInterval = time.Minute })
	if err := b.Append(context.Background(), "td.db1.tbl", records(t, 0, 5), 5); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(59 * time.Second)
	if n := b.SealDue(); n != 0 {
		t.Fatalf("sealed %d chunks before the interval", n)
	}
	clk.t = clk.t.Add(time.Second)
	if n := b.SealDue(); n != 1 {
		t.Fatalf("sealed %d chunks at the interval, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := b.Next(ctx)
	if err != nil || c.Records != 5 || len(c.ID) != 32 {
		t.Fatalf("next = %+v, %v", c, err)
	}
}

func TestRecoveryCutsTornTail(t *testing.T) {
	// Build a chunk of three frames, then cut or damage it at every byte of
	// the last frame: the first two frames must survive, nothing else.
	dir := t.TempDir()
	b := openTest(t, dir, nil)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := b.Append(ctx, "td.db1.tbl", records(t, i*4, 4), 4); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*"+openExt))
	if len(files) != 1 {
		t.Fatalf("open chunk files: %v", files)
	}
	full, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lastStart := lastFrameStart(t, full)
	type mutate struct {
		name string
		fn   func([]byte) []byte
	}
	var cases []mutate
	for cut := lastStart; cut < len(full); cut += 3 {
		cases = append(cases, mutate{"cut" + strconv.Itoa(cut), func(b []byte) []byte { return b[:cut] }})
	}
	for flip := lastStart; flip < len(full); flip += 5 {
		cases = append(cases, mutate{"flip" + strconv.Itoa(flip), func(b []byte) []byte { b[flip] ^= 0x40; return b }})
	}
	for _, m := range cases {
		t.Run(m.name, func(t *testing.T) {
			d := t.TempDir()
			data := m.fn(append([]byte(nil), full...))
			if err := os.WriteFile(filepath.Join(d, filepath.Base(files[0])), data, 0o600); err != nil {
				t.Fatal(err)
			}
			rb := openTest(t, d, nil)
			if s := rb.Stats(); s.TornBytes != uint64(len(data)-lastStart) {
				t.Fatalf("torn bytes = %d, want %d", s.TornBytes, len(data)-lastStart)
			}
			got := drain(t, rb)
			if want := seq(0, 8); !equal(got["td.db1.tbl"], want) {
				t.Fatalf("recovered %v, want %v", got["td.db1.tbl"], want)
			}
		})
	}
}

// lastFrameStart returns the offset of the last frame of a chunk file.
func lastFrameStart(tb testing.TB, data []byte) int {
	tb.Helper()
	fr, err := newFrameReader(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	last := fr.off
	for {
		start := fr.off
		if _, _, err := fr.next(); err == io.EOF {
			return int(last)
		} else if err != nil {
			tb.Fatalf("decode: %v", err)
		}
		last = start
	}
}

func TestRecoveryAfterRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, func(c *Config) { c.ChunkLimit = 4096 })
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		if err := b.Append(ctx, "td.db1.tbl", records(t, i*10, 10), 10); err != nil {
			t.Fatal(err)
		}
	}
	// One chunk in flight when the process "dies": it must come back.
	if c := b.TryNext(); c == nil {
		t.Fatal("no sealed chunk")
	}
	b.Close()
	rb := openTest(t, dir, func(c *Config) { c.ChunkLimit = 4096 })
	got := drain(t, rb)
	if want := seq(0, 300); !equal(got["td.db1.tbl"], want) {
		t.Fatalf("after restart got %d records %v", len(got["td.db1.tbl"]), got["td.db1.tbl"])
	}
}

func TestOverflow(t *testing.T) {
	tests := []struct {
		policy      string
		wantErrFull bool
	}{
		{OverflowBlock, true},
		{OverflowDropOldest, false},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			b := openTest(t, t.TempDir(), func(c *Config) { c.ChunkLimit = 2048; c.TotalLimit = 8192; c.Overflow = tt.policy })
			ctx := context.Background()
			var fullErrs int
			// 200 batches of 10 records: about 18 KB on disk once compressed.
			const batches = 200
			for i := 0; i < batches; i++ {
				err := b.Append(ctx, "td.db1.tbl", records(t, i*10, 10), 10)
				if errors.Is(err, intake.ErrFull) {
					fullErrs++
				} else if err != nil {
					t.Fatal(err)
				}
			}
			s := b.Stats()
			if s.Bytes > 8192 {
				t.Fatalf("buffer holds %d bytes over its 8192 limit", s.Bytes)
			}
			if tt.wantErrFull {
				if fullErrs == 0 || s.FullRejections != uint64(fullErrs) || s.DroppedChunks != 0 {
					t.Fatalf("block: %d ErrFull, stats %+v", fullErrs, s)
				}
			} else {
				if fullErrs != 0 || s.DroppedChunks == 0 || s.DroppedRecords == 0 {
					t.Fatalf("drop_oldest: %d ErrFull, stats %+v", fullErrs, s)
				}
				b.SealAll()
				got := drain(t, b)["td.db1.tbl"]
				if got[len(got)-1] != batches*10-1 || int(s.DroppedRecords)+len(got) != batches*10 {
					t.Fatalf("kept %d records ending %d, dropped %d", len(got), got[len(got)-1], s.DroppedRecords)
				}
			}
		})
	}
}

func TestParkAndRelease(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, nil)
	ctx := context.Background()
	for _, tag := range []string{"td.db1.aaa", "td.db1.bbb"} {
		if err := b.Append(ctx, tag, records(t, 0, 3), 3); err != nil {
			t.Fatal(err)
		}
	}
	b.SealAll()
	c1, c2 := b.TryNext(), b.TryNext()
	if c1 == nil || c2 == nil || b.TryNext() != nil {
		t.Fatal("want exactly two chunks")
	}
	if err := b.Park(c1, []byte(`{"error":"bad"}`)); err != nil {
		t.Fatal(err)
	}
	b.Release(c2)
	if c := b.TryNext(); c == nil || c.ID != c2.ID {
		t.Fatalf("released chunk not queued again: %+v", c)
	}
	resp, err := os.ReadFile(filepath.Join(dir, failedDir, filepath.Base(c1.path)+".response"))
	if err != nil || string(resp) != `{"error":"bad"}` {
		t.Fatalf("response file = %q, %v", resp, err)
	}
	if _, err := os.Stat(filepath.Join(dir, failedDir, filepath.Base(c1.path))); err != nil {
		t.Fatalf("parked chunk: %v", err)
	}
	// A parked chunk is not shipped again after a restart.
	b.Close()
	rb := openTest(t, dir, nil)
	got := drain(t, rb)
	if len(got["td.db1.aaa"]) != 0 || len(got["td.db1.bbb"]) != 3 {
		t.Fatalf("after restart: %v", got)
	}
}

func TestConfigValidateReportsAll(t *testing.T) {
	err := Config{Overflow: "x", GzipLevel: 0}.Validate()
	for _, want := range []string{"path:", "chunk_limit:", "flush_interval:", "overflow:", "gzip_level:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, missing %q", err, want)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	buf := openTest(b, b.TempDir(), func(c *Config) { c.ChunkLimit = 64 << 20; c.TotalLimit = 1 << 40 })
	recs := records(b, 0, 4000)
	b.ReportAllocs()
	b.SetBytes(int64(len(recs)))
	for b.Loop() {
		if err := buf.Append(context.Background(), "td.db1.tbl", recs, 4000); err != nil {
			b.Fatal(err)
		}
		for c := buf.TryNext(); c != nil; c = buf.TryNext() {
			_ = buf.Ack(c)
		}
	}
}

func TestPositionsSurviveAckAndRestart(t *testing.T) {
	// Positions stored with records are reported after a restart, both from
	// chunks still on disk and, once chunks are acknowledged, from the
	// positions file.
	tests := []struct {
		name string
		ack  bool
	}{{"chunks on disk", false}, {"chunks acknowledged", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			b := openTest(t, dir, nil)
			for i, pos := range []string{"10", "20", "30"} {
				appendAt(t, b, "td.db1.tbl", records(t, i, 1), 1, "src\x00/a.log", pos)
			}
			appendAt(t, b, "td.db1.tbl", records(t, 3, 1), 1, "src\x00/b.log", "7")
			if tt.ack {
				b.SealAll()
				if n := len(drain(t, b)["td.db1.tbl"]); n != 4 {
					t.Fatalf("shipped %d records, want 4", n)
				}
				if files, _ := filepath.Glob(filepath.Join(dir, "*"+sealedExt)); len(files) != 0 {
					t.Fatalf("chunks left after ack: %v", files)
				}
			}
			b.Close()
			rb := openTest(t, dir, nil)
			got := recovered(t, rb)
			has := func(key, v string) bool {
				for _, x := range got[key] {
					if string(x) == v {
						return true
					}
				}
				return false
			}
			if !has("src\x00/a.log", "30") || !has("src\x00/b.log", "7") {
				t.Fatalf("recovered positions %q", got)
			}
		})
	}
}

// writeV1Chunk writes a version-1 chunk file (uncompressed frames) holding
// batches of records numbered from 0, each frame with a position.
func writeV1Chunk(tb testing.TB, path string, batches, perBatch int) {
	tb.Helper()
	data := []byte(magicV1)
	cp, err := checkpoint.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < batches; i++ {
		meta, err := checkpoint.NewRecord("src\x00/v1.log", []byte(strconv.Itoa((i+1)*100)))
		if err != nil {
			tb.Fatal(err)
		}
		cp.Stamp(meta) // sequence i+1
		data = appendFrameV1(data, records(tb, i*perBatch, perBatch), perBatch, meta)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestReadsVersion1Chunks(t *testing.T) {
	// Chunks written by the previous format (uncompressed frames) are
	// recovered, their torn tails cut, and shipped compressed.
	tests := []struct {
		name    string
		ext     string
		cut     int // bytes cut from the end (a torn tail)
		want    int
		wantPos string
	}{
		{"sealed", sealedExt, 0, 30, "300"},
		{"open", openExt, 0, 30, "300"},
		{"open with a torn tail", openExt, 5, 20, "200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "0000000000000001000000010000abcd.td.db1.tbl"+tt.ext)
			writeV1Chunk(t, p, 3, 10)
			if tt.cut > 0 {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(p, fi.Size()-int64(tt.cut)); err != nil {
					t.Fatal(err)
				}
			}
			b := openTest(t, dir, nil)
			var latest string
			for _, v := range recovered(t, b)["src\x00/v1.log"] {
				if len(v) > len(latest) || string(v) > latest {
					latest = string(v)
				}
			}
			if latest != tt.wantPos {
				t.Fatalf("recovered position %q, want %q", latest, tt.wantPos)
			}
			if got := drain(t, b)["td.db1.tbl"]; !equal(got, seq(0, tt.want)) {
				t.Fatalf("shipped %v, want 0..%d", got, tt.want-1)
			}
		})
	}
}

func TestNewerFormatLeftOnDisk(t *testing.T) {
	// A chunk of a format version this build cannot read (a downgrade) is
	// neither shipped, cut nor deleted.
	for _, ext := range []string{sealedExt, openExt} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "0000000000000001000000010000abcd.td.db1.tbl"+ext)
			data := []byte("SPWBUF09 future frames")
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			b := openTest(t, dir, nil)
			if c := b.TryNext(); c != nil {
				t.Fatalf("queued %+v", c)
			}
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("file now %q, %v", got, err)
			}
			if _, _, err := Decode(bytes.NewReader(data), nil); !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("Decode error = %v, want ErrUnsupportedVersion", err)
			}
		})
	}
}

func TestRunSealsAtSealInterval(t *testing.T) {
	// Run seals a chunk once it is flush_interval old, without SealAll.
	b := openTest(t, t.TempDir(), func(c *Config) { c.SealInterval = 20 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := 0; i < 3; i++ {
		start := time.Now()
		if err := b.Append(ctx, "td.db1.tbl", records(t, i, 1), 1); err != nil {
			t.Fatal(err)
		}
		c, err := b.Next(ctx)
		if err != nil {
			t.Fatalf("chunk %d not sealed by Run: %v", i, err)
		}
		if age := time.Since(start); age < 20*time.Millisecond || c.Records != 1 {
			t.Fatalf("chunk %d sealed after %v with %d records", i, age, c.Records)
		}
		if err := b.Ack(c); err != nil {
			t.Fatal(err)
		}
	}
}
