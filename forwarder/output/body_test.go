package output

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/buffer"
)

// openBuffer opens a buffer in dir with the default configuration changed
// by mod (may be nil).
func openBuffer(tb testing.TB, dir string, mod func(*buffer.Config)) *buffer.Buffer {
	tb.Helper()
	cfg := buffer.DefaultConfig()
	cfg.Dir = dir
	if mod != nil {
		mod(&cfg)
	}
	b, err := buffer.Open(cfg)
	if err != nil {
		tb.Fatalf("open buffer: %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// bodies returns a Bodies of the default configuration.
func bodies(tb testing.TB) *Bodies {
	tb.Helper()
	bs, err := NewBodies(DefaultConfig().Body, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return bs
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

// oneChunk appends n batches of per records to td.db1.tbl, seals and
// returns the one chunk they make.
func oneChunk(tb testing.TB, b *buffer.Buffer, n, per int) *buffer.Chunk {
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

// storedPayloads returns the bytes of c's frame payloads (what a body sent
// as stored holds).
func storedPayloads(tb testing.TB, c *buffer.Chunk) int64 {
	tb.Helper()
	r, err := c.Read()
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var n int64
	if _, err := r.Each(func(p []byte, _ int) error { n += int64(len(p)); return nil }); err != nil {
		tb.Fatal(err)
	}
	return n
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

// decodeCodec returns the "n" values of a gzip or zstd msgpack body.
func decodeCodec(tb testing.TB, codec buffer.Codec, body []byte) []int64 {
	tb.Helper()
	if codec == buffer.Gzip {
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

// seq returns a, a+1, ..., a+n-1.
func seq(a, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(a + i)
	}
	return out
}

func TestBodyOfVersion1Chunk(t *testing.T) {
	// Chunks of format version 1 (uncompressed frames, written by earlier
	// builds) are compressed when shipped: zstd when the buffer compresses
	// with zstd and the endpoint takes it, gzip otherwise.
	tests := []struct {
		name        string
		compression buffer.Codec
		zstdOK      bool
		want        buffer.Codec
	}{
		{"zstd buffer, zstd endpoint", buffer.Zstd, true, buffer.Zstd},
		{"zstd buffer, gzip endpoint", buffer.Zstd, false, buffer.Gzip},
		{"gzip buffer, zstd endpoint", buffer.Gzip, true, buffer.Gzip},
	}
	data, err := os.ReadFile(filepath.Join("testdata", "chunks", "v1_30_records.chunk"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "0000000000000001000000010000abcd.td.db1.tbl.chunk"), data, 0o600); err != nil {
				t.Fatal(err)
			}
			c := openBuffer(t, dir, nil).TryNext()
			if c == nil {
				t.Fatal("version-1 chunk not queued")
			}
			cfg := DefaultConfig().Body
			cfg.Compression = tt.compression
			bs, err := NewBodies(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, codec, err := bs.Body(c, tt.zstdOK)
			if err != nil || codec != tt.want {
				t.Fatalf("Body = %s, %v; want %s", codec, err, tt.want)
			}
			if got := decodeCodec(t, codec, body); !slices.Equal(got, seq(0, 30)) || c.Records != 30 {
				t.Fatalf("body holds %v (Records %d), want 0..29", got, c.Records)
			}
		})
	}
}

func BenchmarkBody(b *testing.B) {
	buf := openBuffer(b, b.TempDir(), nil)
	recs := records(b, 0, 20000)
	if err := buf.Append(context.Background(), "td.db1.tbl", recs, 20000); err != nil {
		b.Fatal(err)
	}
	buf.SealAll()
	c := buf.TryNext()
	bs := bodies(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(recs)))
	for b.Loop() {
		if _, _, err := bs.Body(c, false); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBodyCodecs(t *testing.T) {
	// The ingest function and the local receiver read gzip bodies with the
	// standard library's gzip reader (it must see every member) and zstd
	// bodies with klauspost's decoder (every frame). Stored bodies are sent
	// as stored; a zstd chunk for a gzip-only endpoint is converted.
	tests := []struct {
		stored  buffer.Codec
		zstdOK  bool
		want    buffer.Codec
		asIs    bool // body is the concatenation of the stored frames
		members int  // at least this many gzip members in the body
	}{
		{stored: buffer.Gzip, zstdOK: false, want: buffer.Gzip, asIs: true, members: 3},
		{stored: buffer.Gzip, zstdOK: true, want: buffer.Gzip, asIs: true, members: 3},
		{stored: buffer.Zstd, zstdOK: true, want: buffer.Zstd, asIs: true},
		{stored: buffer.Zstd, zstdOK: false, want: buffer.Gzip, members: 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-zstdOK=%v", tt.stored, tt.zstdOK), func(t *testing.T) {
			b := openBuffer(t, t.TempDir(), func(c *buffer.Config) { c.Compression = tt.stored })
			c := oneChunk(t, b, 3, 30000)
			body, codec, err := bodies(t).Body(c, tt.zstdOK)
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
			if codec == buffer.Gzip {
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
				if got := decodeRaw(t, raw); !slices.Equal(got, seq(0, 90000)) {
					t.Fatalf("decoded %d records, want 0..89999 in order", len(got))
				}
			} else if got := decodeCodec(t, codec, body); !slices.Equal(got, seq(0, 90000)) {
				t.Fatalf("decoded %d records, want 0..89999 in order", len(got))
			}
			onDisk := storedPayloads(t, c)
			if tt.asIs != (int64(len(body)) == onDisk) {
				t.Fatalf("body of %d bytes, stored payloads %d bytes: sent as stored = %v, want %v", len(body), onDisk, int64(len(body)) == onDisk, tt.asIs)
			}
			if c.Size >= int64(len(records(t, 0, 90000)))/2 {
				t.Fatalf("chunk of 90000 records is %d bytes on disk", c.Size)
			}
		})
	}
}

func TestBodyOfSmallAppendsIsCompressedAsOne(t *testing.T) {
	// Appends of a few records (http, forward inputs) are compressed one by
	// one on disk; the shipped body compresses them together again.
	for _, tt := range []struct {
		stored buffer.Codec
		zstdOK bool
	}{{buffer.Gzip, false}, {buffer.Zstd, false}, {buffer.Zstd, true}} {
		t.Run(fmt.Sprintf("%s-zstdOK=%v", tt.stored, tt.zstdOK), func(t *testing.T) {
			b := openBuffer(t, t.TempDir(), func(c *buffer.Config) { c.Compression = tt.stored })
			c := oneChunk(t, b, 200, 2)
			body, codec, err := bodies(t).Body(c, tt.zstdOK)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeCodec(t, codec, body)
			if !slices.Equal(got, seq(0, 400)) || c.Records != 400 {
				t.Fatalf("body holds %d records (Records %d), want 0..399", len(got), c.Records)
			}
			if int64(len(body))*4 > c.Size {
				t.Fatalf("%s body of %d bytes for a chunk of %d bytes on disk", codec, len(body), c.Size)
			}
		})
	}
}

func TestSingleMemberBody(t *testing.T) {
	// With single_member_body a reader that stops after the first gzip
	// member still sees every record.
	for _, single := range []bool{false, true} {
		t.Run(strconv.FormatBool(single), func(t *testing.T) {
			b := openBuffer(t, t.TempDir(), func(c *buffer.Config) { c.Compression = buffer.Gzip })
			c := oneChunk(t, b, 2, 30000)
			cfg := DefaultConfig().Body
			cfg.SingleMemberBody = single
			bs, err := NewBodies(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _, err := bs.Body(c, false)
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
			if got := decodeBody(t, body); !slices.Equal(got, seq(0, 60000)) {
				t.Fatalf("body holds %d records, want 0..59999", len(got))
			}
		})
	}
}

func TestZstdBodiesFitReceiverWindow(t *testing.T) {
	// Spillway's receivers refuse zstd frames asking for a window over
	// 8 MiB (RFC 9659's limit for HTTP); a large append must stay within.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one piece per frame
	b := openBuffer(t, t.TempDir(), func(c *buffer.Config) { c.ChunkLimit = 64 << 20; c.TotalLimit = 1 << 30 })
	recs := records(t, 0, 600000) // ~15 MiB of msgpack in one append
	if err := b.Append(context.Background(), "td.db1.tbl", recs, 600000); err != nil {
		t.Fatal(err)
	}
	b.SealAll()
	c := b.TryNext()
	if c == nil {
		t.Fatal("no chunk")
	}
	body, codec, err := bodies(t).Body(c, true)
	if err != nil || codec != buffer.Zstd {
		t.Fatalf("Body = %s, %v", codec, err)
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

// FuzzBody checks that building the body of a sealed chunk of any content
// (every format version, as gzip and as zstd) never panics: a damaged chunk
// ships its valid prefix or fails with an error.
func FuzzBody(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "chunks", "*.chunk"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("chunk fixtures: %v, %v", seeds, err)
	}
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	bs, err := NewBodies(DefaultConfig().Body, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "0000000000000001000000010000abcd.td.db1.tbl.chunk"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := buffer.DefaultConfig()
		cfg.Dir = dir
		cfg.Logger = slog.New(slog.DiscardHandler)
		b, err := buffer.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if c := b.TryNext(); c != nil {
			for _, zstdOK := range []bool{false, true} {
				_, _, _ = bs.Body(c, zstdOK)
			}
		}
	})
}
