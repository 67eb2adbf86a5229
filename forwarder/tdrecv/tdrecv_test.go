package tdrecv

import (
	"github.com/spillwayhq/spillway/internal/testcodec"

	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/shared/tdimport"
)

// stream is n msgpack records.
func stream(tb testing.TB, from, n int) []byte {
	tb.Helper()
	var b bytes.Buffer
	enc := msgpack.NewEncoder(&b)
	for i := from; i < from+n; i++ {
		if err := enc.Encode(map[string]any{"time": int64(1700000000 + i), "host": "10.0.0.1", "path": "/index.html", "code": 200}); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Bytes()
}

func gz(tb testing.TB, raw []byte) []byte {
	return testcodec.Gzip(tb, raw)
}

// zst is raw as zstd frames of at most frame bytes each, as the forwarder
// concatenates one frame per append.
func zst(tb testing.TB, raw []byte, frame int) []byte {
	return testcodec.Zstd(tb, raw, frame)
}

func client(tb testing.TB, rv *Receiver) *tdimport.Client {
	tb.Helper()
	srv := httptest.NewServer(rv)
	tb.Cleanup(srv.Close)
	return &tdimport.Client{Endpoint: srv.URL, APIKey: "k", Logger: slog.New(slog.DiscardHandler),
		Policy: tdimport.RetryPolicy{MaxAttempts: 1, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond}}
}

func TestFormats(t *testing.T) {
	raw := stream(t, 0, 300)
	tests := []struct {
		name     string
		gzipOnly bool
		format   string
		body     []byte
		status   int // 0 = accepted
	}{
		{name: "gzip", format: tdimport.FormatGzip, body: gz(t, raw)},
		{name: "zstd, many frames", format: tdimport.FormatZstd, body: zst(t, raw, 1000)},
		{name: "zstd, one frame", format: tdimport.FormatZstd, body: zst(t, raw, len(raw))},
		{name: "gzip to a gzip-only receiver", gzipOnly: true, format: tdimport.FormatGzip, body: gz(t, raw)},
		{name: "zstd to a gzip-only receiver", gzipOnly: true, format: tdimport.FormatZstd, body: zst(t, raw, 1000), status: http.StatusUnsupportedMediaType},
		{name: "unknown format", format: "json.gz", body: gz(t, raw), status: http.StatusUnsupportedMediaType},
		{name: "gzip sent as zstd", format: tdimport.FormatZstd, body: gz(t, raw), status: http.StatusBadRequest},
		{name: "truncated zstd", format: tdimport.FormatZstd, body: zst(t, raw, 1000)[:500], status: http.StatusBadRequest},
		{name: "zstd with a 1 GiB window", format: tdimport.FormatZstd, body: []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa0, 0x01, 0x00, 0x00}, status: http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rv := New("k", true)
			rv.GzipOnly = tc.gzipOnly
			c := client(t, rv)
			_, err := c.ImportWithIDFormat(context.Background(), "db1", "tbl", "u1", tc.format, tc.body)
			if tc.status != 0 {
				var se *tdimport.StatusError
				if !errors.As(err, &se) || se.StatusCode != tc.status || !tdimport.IsPermanent(err) {
					t.Fatalf("err = %v, want a permanent %d", err, tc.status)
				}
				if rv.Count() != 0 {
					t.Fatalf("refused upload stored %d records", rv.Count())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rv.Count() != 300 || !reflect.DeepEqual(rv.Records(), decodeAll(t, raw)) {
				t.Fatalf("stored %d records, not the ones sent", rv.Count())
			}
			if got := rv.Formats(); got[tc.format] != 1 || len(got) != 1 {
				t.Fatalf("Formats = %v", got)
			}
		})
	}
}

func decodeAll(tb testing.TB, raw []byte) []map[string]any {
	tb.Helper()
	recs, _, err := decode(gz(tb, raw), tdimport.FormatGzip, true)
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// TestGzipOnlyFallback is the forwarder's fallback as a client sees it: a
// zstd upload refused 415, the same chunk sent as gzip taken, a repeat in
// either format deduplicated by unique_id.
func TestGzipOnlyFallback(t *testing.T) {
	raw := stream(t, 0, 50)
	for _, gzipOnly := range []bool{false, true} {
		rv := New("k", false)
		rv.GzipOnly = gzipOnly
		c := client(t, rv)
		ctx := context.Background()
		_, err := c.ImportWithIDFormat(ctx, "db1", "tbl", "chunk1", tdimport.FormatZstd, zst(t, raw, 100))
		if gzipOnly != tdimport.IsPermanent(err) || !gzipOnly && err != nil {
			t.Fatalf("gzipOnly %v: zstd upload: %v", gzipOnly, err)
		}
		if _, err := c.ImportWithID(ctx, "db1", "tbl", "chunk1", gz(t, raw)); err != nil {
			t.Fatalf("gzipOnly %v: gzip upload: %v", gzipOnly, err)
		}
		records, dups, _, requests := rv.Stats()
		wantDups := 1
		if gzipOnly {
			wantDups = 0
		}
		if records != 50 || dups != wantDups || requests != 2 {
			t.Fatalf("gzipOnly %v: %d records, %d duplicates, %d requests", gzipOnly, records, dups, requests)
		}
		if f := rv.Formats(); f[tdimport.FormatZstd] != 1 || f[tdimport.FormatGzip] != 1 {
			t.Fatalf("Formats = %v", f)
		}
	}
}

// BenchmarkDecode compares the receiver's cost per record for the two
// formats, as the forwarder benchmark counts records (Keep off).
func BenchmarkDecode(b *testing.B) {
	raw := stream(b, 0, 20000)
	for _, tc := range []struct {
		format string
		body   []byte
	}{
		{tdimport.FormatGzip, gz(b, raw)},
		{tdimport.FormatZstd, zst(b, raw, 64<<10)},
	} {
		b.Run(tc.format, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, n, err := decode(tc.body, tc.format, false); err != nil || n != 20000 {
					b.Fatalf("%d records, %v", n, err)
				}
			}
		})
	}
}
