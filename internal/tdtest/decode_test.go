package tdtest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/internal/testcodec"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

func gz(t testing.TB, raw []byte) []byte {
	return testcodec.Gzip(t, raw)
}

func encode(t testing.TB, vs ...any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := msgpack.NewEncoder(&b)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func nested(depth int) map[string]any {
	m := map[string]any{"time": 1}
	cur := m
	for i := 0; i < depth; i++ {
		n := map[string]any{}
		cur["x"] = n
		cur = n
	}
	return m
}

func TestDecodeStream(t *testing.T) {
	lim := DefaultLimits()
	small := lim
	small.MaxDecompressedBytes = 64
	tests := []struct {
		name    string
		body    []byte
		lim     tdrecord.Limits
		want    int
		wantErr error
	}{
		{"two records", gz(t, encode(t, map[string]any{"time": 1, "a": "b"}, map[string]any{"time": uint64(2), "n": []any{1, "x"}})), lim, 2, nil},
		{"empty stream", gz(t, nil), lim, 0, nil},
		{"not gzip", []byte("hello"), lim, 0, ErrNotGzip},
		{"array record", gz(t, encode(t, []any{1, 2})), lim, 0, ErrBadRecord},
		{"missing time", gz(t, encode(t, map[string]any{"a": 1})), lim, 0, ErrBadRecord},
		{"float time", gz(t, encode(t, map[string]any{"time": 1.5})), lim, 0, ErrBadRecord},
		{"int key", gz(t, encode(t, map[any]any{1: 2, "time": 1})), lim, 0, ErrBadRecord},
		{"too deep", gz(t, encode(t, nested(40))), lim, 0, ErrTooLarge},
		{"too large", gz(t, encode(t, map[string]any{"time": 1, "s": string(make([]byte, 200))})), small, 0, ErrTooLarge},
		{"truncated", gz(t, encode(t, map[string]any{"time": 1, "a": "b"})[:5]), lim, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := DecodeStream(bytes.NewReader(tt.body), tt.lim)
			if tt.name == "truncated" {
				if err == nil {
					t.Fatal("truncated stream: want error")
				}
				return
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tt.want {
				t.Fatalf("%d records, want %d", len(recs), tt.want)
			}
			for _, r := range recs {
				if _, ok := r["time"].(int64); !ok {
					t.Fatalf("time is %T, want int64", r["time"])
				}
			}
		})
	}
}

// zst returns raw as zstd frames of at most frame bytes each (one frame when
// frame <= 0), cut at any byte.
func zst(t testing.TB, raw []byte, frame int) []byte {
	return testcodec.Zstd(t, raw, frame)
}

// zstdHugeWindow is a zstd frame header asking for a 1 GiB window, then an
// empty last block.
var zstdHugeWindow = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa0, 0x01, 0x00, 0x00}

func TestDecodeZstd(t *testing.T) {
	lim := DefaultLimits()
	small := lim
	small.MaxDecompressedBytes = 64
	two := encode(t, map[string]any{"time": 1, "a": "b"}, map[string]any{"time": uint64(2), "n": []any{1, "x"}})
	skippable := []byte{0x50, 0x2a, 0x4d, 0x18, 0x01, 0x00, 0x00, 0x00, 0x00}
	tests := []struct {
		name    string
		body    []byte
		lim     tdrecord.Limits
		want    int
		wantErr error // with anyErr: any error
		anyErr  bool
	}{
		{name: "two records, one frame", body: zst(t, two, 0), lim: lim, want: 2},
		{name: "two records, 3-byte frames", body: zst(t, two, 3), lim: lim, want: 2},
		{name: "skippable and empty frames", body: append(append(append([]byte(nil), skippable...), zst(t, nil, 0)...), zst(t, two, 0)...), lim: lim, want: 2},
		{name: "empty frame", body: zst(t, nil, 0), lim: lim, want: 0},
		{name: "not zstd", body: []byte("hello"), lim: lim, anyErr: true},
		{name: "gzip", body: gz(t, two), lim: lim, anyErr: true},
		{name: "truncated", body: zst(t, two, 0)[:12], lim: lim, anyErr: true},
		{name: "1 GiB window", body: zstdHugeWindow, lim: lim, anyErr: true},
		{name: "array record", body: zst(t, encode(t, []any{1, 2}), 0), lim: lim, wantErr: ErrBadRecord},
		{name: "missing time", body: zst(t, encode(t, map[string]any{"a": 1}), 0), lim: lim, wantErr: ErrBadRecord},
		{name: "too large", body: zst(t, encode(t, map[string]any{"time": 1, "s": string(make([]byte, 200))}), 0), lim: small, wantErr: ErrTooLarge},
		{name: "bomb", body: zst(t, encode(t, map[string]any{"time": 1, "s": string(make([]byte, 64<<20))}), 0), lim: tdrecord.Limits{MaxDecompressedBytes: 1 << 20, MaxRecordBytes: 1 << 20, MaxEvents: 10, MaxDepth: 4, MaxKeys: 4}, wantErr: ErrTooLarge},
	}
	for round := range 2 { // the pooled decoders again, after every failure
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				recs, err := DecodeZstd(bytes.NewReader(tt.body), tt.lim)
				switch {
				case tt.anyErr:
					if err == nil {
						t.Fatalf("round %d: want an error", round)
					}
				case tt.wantErr != nil:
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("round %d: err = %v, want %v", round, err, tt.wantErr)
					}
				case err != nil || len(recs) != tt.want:
					t.Fatalf("round %d: %d records, %v; want %d", round, len(recs), err, tt.want)
				}
			})
		}
	}
}

func TestHashRecord(t *testing.T) {
	base := map[string]any{"time": int64(5), "s": "v", "n": map[string]any{"k": []any{int64(1), 2.5}}}
	tests := []struct {
		name string
		rec  map[string]any
		same bool
	}{
		{"same", map[string]any{"time": int64(5), "s": "v", "n": map[string]any{"k": []any{int64(1), 2.5}}}, true},
		{"narrow ints", map[string]any{"time": uint8(5), "s": "v", "n": map[string]any{"k": []any{int8(1), 2.5}}}, true},
		{"bin for str", map[string]any{"time": int64(5), "s": []byte("v"), "n": map[string]any{"k": []any{int64(1), 2.5}}}, true},
		{"float32 widened", map[string]any{"time": int64(5), "s": "v", "n": map[string]any{"k": []any{int64(1), float32(2.5)}}}, true},
		{"other value", map[string]any{"time": int64(6), "s": "v", "n": map[string]any{"k": []any{int64(1), 2.5}}}, false},
		{"int vs float", map[string]any{"time": 5.0, "s": "v", "n": map[string]any{"k": []any{int64(1), 2.5}}}, false},
		{"moved key", map[string]any{"time": int64(5), "n": map[string]any{"k": []any{int64(1), 2.5}, "s": "v"}}, false},
		{"extra key", map[string]any{"time": int64(5), "s": "v", "n": map[string]any{"k": []any{int64(1), 2.5}}, "x": nil}, false},
	}
	h0 := HashRecord(base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HashRecord(tt.rec) == h0; got != tt.same {
				t.Fatalf("same hash = %v, want %v", got, tt.same)
			}
		})
	}
}

func FuzzDecodeStream(f *testing.F) {
	f.Add(gz(f, encode(f, map[string]any{"time": 1, "host": "a", "tags": []any{"x", 1.5, nil, true}})))
	f.Add(gz(f, nil))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff})
	lim := DefaultLimits()
	lim.MaxDecompressedBytes = 1 << 20
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeStream(bytes.NewReader(b), lim)
		if err != nil {
			return
		}
		for _, r := range recs {
			if _, ok := r["time"].(int64); !ok {
				t.Fatalf("accepted record with time %T", r["time"])
			}
			_ = HashRecord(r)
		}
	})
}

func FuzzDecodeMsgpack(f *testing.F) {
	f.Add(encode(f, map[string]any{"time": 1, "m": map[string]any{"a": []byte{1}}}))
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81, 0xa4, 't', 'i', 'm', 'e', 0xdd, 0xff, 0xff, 0xff, 0xff})
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeMsgpack(bytes.NewReader(b), lim)
		if err != nil {
			return
		}
		// What decodes must re-encode and decode to the same hashes.
		again, err := DecodeMsgpack(bytes.NewReader(encodeRecords(t, recs)), lim)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("re-decode: %d records, err %v; want %d", len(again), err, len(recs))
		}
		for i := range recs {
			if HashRecord(recs[i]) != HashRecord(again[i]) {
				t.Fatalf("record %d changed across a round trip", i)
			}
		}
	})
}

func encodeRecords(t testing.TB, recs []Record) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := msgpack.NewEncoder(&b)
	for _, r := range recs {
		if err := enc.Encode(map[string]any(r)); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func benchBody(b *testing.B) ([]byte, int) {
	b.Helper()
	recs := make([]any, 1000)
	for i := range recs {
		recs[i] = map[string]any{"time": int64(1432037101 + i), "host": "46.118.127.106", "method": "GET",
			"path": "/scripts/grok-py-test/configlib.py", "code": 200, "size": 235, "referer": "-",
			"agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}
	}
	raw := encode(b, recs...)
	return gz(b, raw), len(raw)
}

func BenchmarkDecodeStream(b *testing.B) {
	body, rawLen := benchBody(b)
	lim := DefaultLimits()
	b.ReportAllocs()
	b.SetBytes(int64(rawLen))
	for b.Loop() {
		if _, err := DecodeStream(bytes.NewReader(body), lim); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashRecord(b *testing.B) {
	body, rawLen := benchBody(b)
	recs, err := DecodeStream(bytes.NewReader(body), DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(rawLen))
	for b.Loop() {
		for _, r := range recs {
			_ = HashRecord(r)
		}
	}
}
