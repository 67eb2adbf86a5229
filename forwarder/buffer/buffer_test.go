package buffer

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/checkpoint"
	"github.com/spillwayhq/spillway/forwarder/sink"
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
	for i := 0; i < n; i++ {
		if err := enc.EncodeMap(map[string]any{"time": int64(1700000000), "n": int64(start + i)}); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// decodeBody returns the "n" values of a gzip msgpack body.
func decodeBody(tb testing.TB, body []byte) []int64 {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("gzip: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatalf("gunzip: %v", err)
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
		body, err := b.Body(c)
		if err != nil {
			tb.Fatalf("body: %v", err)
		}
		got[c.Tag] = append(got[c.Tag], decodeBody(tb, body)...)
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
	b := openTest(t, t.TempDir(), func(c *Config) { c.Now = clk.Now; c.FlushInterval = time.Minute })
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
				if errors.Is(err, sink.ErrFull) {
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

func BenchmarkBody(b *testing.B) {
	buf := openTest(b, b.TempDir(), nil)
	recs := records(b, 0, 20000)
	if err := buf.Append(context.Background(), "td.db1.tbl", recs, 20000); err != nil {
		b.Fatal(err)
	}
	buf.SealAll()
	c := buf.TryNext()
	b.ReportAllocs()
	b.SetBytes(int64(len(recs)))
	for b.Loop() {
		if _, err := buf.Body(c); err != nil {
			b.Fatal(err)
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

func TestBodyCodecs(t *testing.T) {
	// The ingest function and the local receiver read gzip bodies with the
	// standard library's gzip reader (it must see every member) and zstd
	// bodies with klauspost's decoder (every frame). Stored bodies are sent
	// as stored; a zstd chunk for a gzip-only endpoint is converted.
	tests := []struct {
		stored  Codec
		zstdOK  bool
		want    Codec
		asIs    bool // body is the concatenation of the stored frames
		members int  // at least this many gzip members in the body
	}{
		{stored: Gzip, zstdOK: false, want: Gzip, asIs: true, members: 3},
		{stored: Gzip, zstdOK: true, want: Gzip, asIs: true, members: 3},
		{stored: Zstd, zstdOK: true, want: Zstd, asIs: true},
		{stored: Zstd, zstdOK: false, want: Gzip, members: 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-zstdOK=%v", tt.stored, tt.zstdOK), func(t *testing.T) {
			b := openTest(t, t.TempDir(), func(c *Config) { c.Compression = tt.stored })
			c := oneChunk(t, b, 3, 30000)
			body, codec, err := b.BodyAs(c, tt.zstdOK)
			if err != nil {
				t.Fatal(err)
			}
			if codec != tt.want {
				t.Fatalf("codec = %q, want %q", codec, tt.want)
			}
			if c.Records != 90000 {
				t.Fatalf("records = %d, want 90000", c.Records)
			}
			var raw []byte
			if codec == Gzip {
				br := bytes.NewReader(body)
				zr, err := stdgzip.NewReader(br)
				if err != nil {
					t.Fatal(err)
				}
				members := 0
				for err == nil {
					zr.Multistream(false)
					m, rerr := io.ReadAll(zr)
					if rerr != nil {
						t.Fatal(rerr)
					}
					raw = append(raw, m...)
					members++
					err = zr.Reset(br)
				}
				if err != io.EOF {
					t.Fatal(err)
				}
				if members < tt.members || !tt.asIs && members != 1 {
					t.Fatalf("%d gzip members, want at least %d (exactly 1 when converted)", members, tt.members)
				}
				if got := decodeRaw(t, raw); !equal(got, seq(0, 90000)) {
					t.Fatalf("decoded %d records, want 0..89999 in order", len(got))
				}
			} else if got := decodeCodec(t, codec, body); !equal(got, seq(0, 90000)) {
				t.Fatalf("decoded %d records, want 0..89999 in order", len(got))
			}
			onDisk := c.Size - int64(len(magic)) - 3*frameHeader // the frames hold no metadata
			if tt.asIs != (int64(len(body)) == onDisk) {
				t.Fatalf("body of %d bytes, stored payloads %d bytes: sent as stored = %v, want %v", len(body), onDisk, int64(len(body)) == onDisk, tt.asIs)
			}
			if c.Size >= int64(len(records(t, 0, 90000)))/2 {
				t.Fatalf("chunk of 90000 records is %d bytes on disk", c.Size)
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

func TestBodyOfSmallAppendsIsCompressedAsOne(t *testing.T) {
	// Appends of a few records (http, forward inputs) are compressed one by
	// one on disk; the shipped body compresses them together again.
	for _, tt := range []struct {
		stored Codec
		zstdOK bool
	}{{Gzip, false}, {Zstd, false}, {Zstd, true}} {
		t.Run(fmt.Sprintf("%s-zstdOK=%v", tt.stored, tt.zstdOK), func(t *testing.T) {
			b := openTest(t, t.TempDir(), func(c *Config) { c.Compression = tt.stored })
			c := oneChunk(t, b, 200, 2)
			body, codec, err := b.BodyAs(c, tt.zstdOK)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeCodec(t, codec, body)
			if !equal(got, seq(0, 400)) || c.Records != 400 {
				t.Fatalf("body holds %d records (Records %d), want 0..399", len(got), c.Records)
			}
			if int64(len(body))*4 > c.Size {
				t.Fatalf("%s body of %d bytes for a chunk of %d bytes on disk", codec, len(body), c.Size)
			}
		})
	}
}

// oneChunk appends n batches of per records to td.db1.tbl, seals and
// returns the one chunk they make.
func oneChunk(tb testing.TB, b *Buffer, n, per int) *Chunk {
	tb.Helper()
	for i := 0; i < n; i++ {
		if err := b.Append(context.Background(), "td.db1.tbl", records(tb, i*per, per), per); err != nil {
			tb.Fatal(err)
		}
	}
	b.SealAll()
	c := b.TryNext()
	if c == nil {
		tb.Fatal("no chunk")
	}
	return c
}

// decodeCodec returns the "n" values of a gzip or zstd msgpack body.
func decodeCodec(tb testing.TB, codec Codec, body []byte) []int64 {
	tb.Helper()
	if codec == Gzip {
		return decodeBody(tb, body)
	}
	zd, err := zstd.NewReader(nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer zd.Close()
	raw, err := zd.DecodeAll(body, nil)
	if err != nil {
		tb.Fatalf("zstd: %v", err)
	}
	return decodeRaw(tb, raw)
}

func TestSingleMemberBody(t *testing.T) {
	// With single_member_body a reader that stops after the first gzip
	// member still sees every record.
	for _, single := range []bool{false, true} {
		t.Run(strconv.FormatBool(single), func(t *testing.T) {
			b := openTest(t, t.TempDir(), func(c *Config) { c.SingleMemberBody, c.Compression = single, Gzip })
			c := oneChunk(t, b, 2, 30000)
			body, err := b.Body(c)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := stdgzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			zr.Multistream(false)
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			first := len(decodeRaw(t, raw))
			if single && first != 60000 || !single && first >= 60000 {
				t.Fatalf("first gzip member holds %d of 60000 records (single_member_body %v)", first, single)
			}
			if got := decodeBody(t, body); !equal(got, seq(0, 60000)) {
				t.Fatalf("body holds %d records, want 0..59999", len(got))
			}
		})
	}
}

func TestRunSealsAtFlushInterval(t *testing.T) {
	// Run seals a chunk once it is flush_interval old, without SealAll.
	b := openTest(t, t.TempDir(), func(c *Config) { c.FlushInterval = 20 * time.Millisecond })
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

func TestZstdBodiesFitReceiverWindow(t *testing.T) {
	// Spillway's receivers refuse zstd frames asking for a window over
	// 8 MiB (RFC 9659's limit for HTTP); a large append must stay within.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one piece per frame
	b := openTest(t, t.TempDir(), func(c *Config) { c.ChunkLimit = 64 << 20; c.TotalLimit = 1 << 30 })
	recs := records(t, 0, 600000) // ~15 MiB of msgpack in one append
	if err := b.Append(context.Background(), "td.db1.tbl", recs, 600000); err != nil {
		t.Fatal(err)
	}
	b.SealAll()
	c := b.TryNext()
	if c == nil {
		t.Fatal("no chunk")
	}
	body, codec, err := b.BodyAs(c, true)
	if err != nil || codec != Zstd {
		t.Fatalf("BodyAs = %s, %v", codec, err)
	}
	zd, err := zstd.NewReader(nil, zstd.WithDecoderMaxWindow(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer zd.Close()
	raw, err := zd.DecodeAll(body, nil)
	if err != nil {
		t.Fatalf("decoder with an 8 MiB window limit: %v", err)
	}
	if !bytes.Equal(raw, recs) {
		t.Fatalf("decoded %d bytes, want the %d appended", len(raw), len(recs))
	}
}
