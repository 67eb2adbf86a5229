package tdrecord

import (
	"bytes"
	stdgzip "compress/gzip"
	"testing"
)

// refGzip is what fanout's EncodeGzip, flush's gzipBytes and ingest's
// gzipBytes wrote before GzipStream replaced them: a fresh compress/gzip
// writer at level, one write per raw.
func refGzip(tb testing.TB, level int, raws ...[]byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, err := stdgzip.NewWriterLevel(&buf, level)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range raws {
		if _, err := zw.Write(r); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestGzipStream(t *testing.T) {
	var raw []byte
	for i := range 2000 {
		var err error
		if raw, err = AppendRecord(raw, map[string]any{"i": i, "msg": "GET /index.html HTTP/1.1", "n": float64(i) / 3}, int64(1700000000+i)); err != nil {
			t.Fatal(err)
		}
	}
	half := len(raw) / 2
	tests := []struct {
		name  string
		level int
		raws  [][]byte
	}{
		{"empty", stdgzip.DefaultCompression, nil},
		{"one stream", stdgzip.DefaultCompression, [][]byte{raw}},
		{"split streams", stdgzip.DefaultCompression, [][]byte{raw[:half], raw[half:]}},
		{"best speed", stdgzip.BestSpeed, [][]byte{raw}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := refGzip(t, tt.level, tt.raws...)
			for round := range 3 { // pooled writers give the same bytes
				var got []byte
				if tt.level == stdgzip.DefaultCompression {
					got = GzipStream(tt.raws...)
				} else {
					got = GzipStreamLevel(tt.level, tt.raws...)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("round %d: %d bytes differ from compress/gzip's %d", round, len(got), len(want))
				}
				plain, err := Gunzip(got, DefaultLimits(), nil)
				if err != nil || !bytes.Equal(plain, bytes.Join(tt.raws, nil)) {
					t.Fatalf("round %d: gunzip gives %d bytes, %v", round, len(plain), err)
				}
			}
		})
	}
	// Split input gives the same bytes as whole input.
	if !bytes.Equal(GzipStream(raw[:half], raw[half:]), GzipStream(raw)) {
		t.Fatal("split input compresses differently")
	}
}
