package httpin

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/intake"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// fakeSink records appends; err (if set) is returned instead.
type fakeSink struct {
	mu      sync.Mutex
	calls   []appendCall
	err     error
	entered chan struct{} // if set, signalled on entry
	release chan struct{} // if set, Append waits for it
}

type appendCall struct {
	tag     string
	records []map[string]any
	count   int
}

var _ intake.Appender = (*fakeSink)(nil)

func (f *fakeSink) Append(ctx context.Context, tag string, records []byte, count int) error {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.err != nil {
		return f.err
	}
	recs, err := decodeStream(records)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, appendCall{tag: tag, records: recs, count: count})
	return nil
}

func (f *fakeSink) all() []appendCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]appendCall(nil), f.calls...)
}

func decodeStream(b []byte) ([]map[string]any, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			m[k] = norm(v)
		}
		out = append(out, m)
	}
}

func norm(v any) any {
	switch t := v.(type) {
	case int8, int16, int32, int, uint8, uint16, uint32:
		var i int64
		fmt.Sscan(fmt.Sprint(t), &i)
		return i
	case uint64:
		return int64(t)
	case map[string]any:
		for k, x := range t {
			t[k] = norm(x)
		}
	case []any:
		for i, x := range t {
			t[i] = norm(x)
		}
	}
	return v
}

// configWith returns DefaultConfig changed by mod.
func configWith(mod func(*Config)) Config {
	c := DefaultConfig()
	mod(&c)
	return c
}

// startServer runs a Server on a free loopback port and stops it at cleanup.
func startServer(tb testing.TB, cfg Config, s intake.Appender) string {
	tb.Helper()
	_, base := startServerStats(tb, cfg, s)
	return base
}

// startServerStats is startServer that also returns the Server.
func startServerStats(tb testing.TB, cfg Config, s intake.Appender) (*Server, string) {
	tb.Helper()
	srv, err := New(cfg, s, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return srv, "http://" + ln.Addr().String()
}

func gz(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func zl(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func mp(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type rec = map[string]any

func TestAccepted(t *testing.T) {
	msgpackBody := mp(t, []any{rec{"a": 1, "time": 1700000000}, rec{"b": "x", "time": 1700000001.5}})
	tests := []struct {
		name     string
		path     string
		ctype    string
		encoding string
		body     []byte
		want     []rec
	}{
		{"json body", "/td.db1.tbl1?time=1700000000.7", "application/json", "", []byte(`{"a":1,"s":"x","n":null,"f":1.5,"o":{"k":[1,2]}}`),
			[]rec{{"a": int64(1), "s": "x", "n": nil, "f": 1.5, "o": rec{"k": []any{int64(1), int64(2)}}, "time": int64(1700000000)}}},
		{"json array: record times, time param absent", "/td.db1.tbl1", "application/json; charset=utf-8", "", []byte(`[{"a":1,"time":1600000000},{"a":2,"time":1600000001.9}]`),
			[]rec{{"a": int64(1), "time": int64(1600000000)}, {"a": int64(2), "time": int64(1600000001)}}},
		{"time param wins over record time", "/td.db1.tbl1?time=5", "application/json", "", []byte(`[{"a":1,"time":1600000000},{"a":2}]`),
			[]rec{{"a": int64(1), "time": int64(5)}, {"a": int64(2), "time": int64(5)}}},
		{"slash path", "/td/db1/tbl1?time=5", "application/json", "", []byte(`{"a":1}`), []rec{{"a": int64(1), "time": int64(5)}}},
		{"ndjson", "/td.db1.tbl1?time=5", "application/x-ndjson", "", []byte("{\"a\":1}\n\n{\"a\":2}\n"),
			[]rec{{"a": int64(1), "time": int64(5)}, {"a": int64(2), "time": int64(5)}}},
		{"msgpack body", "/td.db1.tbl1", "application/msgpack", "", msgpackBody,
			[]rec{{"a": int64(1), "time": int64(1700000000)}, {"b": "x", "time": int64(1700000001)}}},
		{"form json=", "/td.db1.tbl1", "application/x-www-form-urlencoded", "", []byte(url.Values{"json": {`{"a":"b c&d"}`}, "time": {"42"}}.Encode()),
			[]rec{{"a": "b c&d", "time": int64(42)}}},
		{"form msgpack=", "/td.db1.tbl1?time=7", "application/x-www-form-urlencoded", "", []byte(url.Values{"msgpack": {string(mp(t, rec{"k": "v"}))}}.Encode()),
			[]rec{{"k": "v", "time": int64(7)}}},
		{"query json= without body", "/td.db1.tbl1?time=7&json=" + url.QueryEscape(`[{"q":1}]`), "", "", nil,
			[]rec{{"q": int64(1), "time": int64(7)}}},
		// Kept as text, as ingest and in_forward do (this source used to store +Inf).
		{"overflowing numbers kept as text", "/td.db1.tbl1?time=5", "application/json", "", []byte(`{"a":1e999,"b":[-1e999]}`),
			[]rec{{"a": "1e999", "b": []any{"-1e999"}, "time": int64(5)}}},
		{"gzip json", "/td.db1.tbl1?time=5", "application/json", "gzip", gz(t, []byte(`{"z":true}`)), []rec{{"z": true, "time": int64(5)}}},
		{"deflate form", "/td.db1.tbl1?time=5", "application/x-www-form-urlencoded", "deflate", zl(t, []byte("ndjson="+url.QueryEscape("{\"d\":1}\n{\"d\":2}"))),
			[]rec{{"d": int64(1), "time": int64(5)}, {"d": int64(2), "time": int64(5)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &fakeSink{}
			base := startServer(t, DefaultConfig(), fs)
			req, err := http.NewRequest(http.MethodPost, base+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode, msg)
			}
			calls := fs.all()
			if len(calls) != 1 || calls[0].tag != "td.db1.tbl1" || calls[0].count != len(tt.want) {
				t.Fatalf("calls = %+v", calls)
			}
			var want []map[string]any
			for _, w := range tt.want {
				want = append(want, map[string]any(w))
			}
			if !reflect.DeepEqual(calls[0].records, want) {
				t.Fatalf("records\n got %v\nwant %v", calls[0].records, want)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	bomb := gz(t, bytes.Repeat([]byte(" "), 4096))
	tests := []struct {
		name     string
		cfg      Config
		sinkErr  error
		method   string
		path     string
		ctype    string
		body     []byte
		code     int
		contains string
	}{
		// The intake (forwarder/route, or the buffer alone) decides what
		// is routable; the source answers 400 and counts.
		{"bad tag", DefaultConfig(), fmt.Errorf("%w: tag", intake.ErrUnroutable), "POST", "/app.log", "application/json", []byte(`{"a":1}`), 400, "td.<database>.<table>"},
		{"bad db name", DefaultConfig(), fmt.Errorf("%w: %w", intake.ErrUnroutable, names.ErrInvalid), "POST", "/td.DB.tbl", "application/json", []byte(`{"a":1}`), 400, "invalid name"},
		{"GET", DefaultConfig(), nil, "GET", "/td.db1.tbl1", "", nil, 405, "POST"},
		{"no payload", DefaultConfig(), nil, "POST", "/td.db1.tbl1", "", nil, 400, "parameter"},
		{"bad json", DefaultConfig(), nil, "POST", "/td.db1.tbl1", "application/json", []byte(`{"a":`), 400, "json"},
		{"not an object", DefaultConfig(), nil, "POST", "/td.db1.tbl1", "application/json", []byte(`[1]`), 400, "not an object"},
		{"string time", DefaultConfig(), nil, "POST", "/td.db1.tbl1", "application/json", []byte(`{"time":"now"}`), 400, "time"},
		{"bad time param", DefaultConfig(), nil, "POST", "/td.db1.tbl1?time=abc", "application/json", []byte(`{"a":1}`), 400, "time parameter"},
		{"body too large", configWith(func(c *Config) { c.MaxBodyBytes = 10 }), nil, "POST", "/td.db1.tbl1", "application/json", []byte(`{"a":"0123456789"}`), 413, "limit"},
		{"decompression bomb", configWith(func(c *Config) { c.MaxDecompressedBytes = 1024 }), nil, "POST", "/td.db1.tbl1", "application/json", bomb, 413, "decompressed"},
		{"too many records", configWith(func(c *Config) { c.MaxRecords = 2 }), nil, "POST", "/td.db1.tbl1", "application/json", []byte(`[{},{},{}]`), 413, "too many"},
		{"unknown encoding", DefaultConfig(), nil, "POST", "/td.db1.tbl1", "application/json", []byte(`{}`), 400, "Content-Encoding"},
		{"bad gzip", DefaultConfig(), nil, "POST", "/td.db1.tbl1", "application/json", []byte(`{}`), 400, "gzip"},
		{"unknown content type", DefaultConfig(), nil, "POST", "/td.db1.tbl1", "text/plain", []byte(`{}`), 415, "Content-Type"},
		{"intake full", configWith(func(c *Config) { c.RetryAfter = 3 * time.Second }), intake.ErrFull, "POST", "/td.db1.tbl1", "application/json", []byte(`{}`), 503, "full"},
		{"intake broken", DefaultConfig(), errors.New("disk on fire"), "POST", "/td.db1.tbl1", "application/json", []byte(`{}`), 500, "could not store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &fakeSink{err: tt.sinkErr}
			base := startServer(t, tt.cfg, fs)
			req, err := http.NewRequest(tt.method, base+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			switch tt.name {
			case "decompression bomb":
				req.Header.Set("Content-Encoding", "gzip")
			case "unknown encoding":
				req.Header.Set("Content-Encoding", "br")
			case "bad gzip":
				req.Header.Set("Content-Encoding", "gzip")
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.code || !strings.Contains(string(msg), tt.contains) {
				t.Fatalf("got %d %q, want %d containing %q", res.StatusCode, msg, tt.code, tt.contains)
			}
			if tt.code == 503 && res.Header.Get("Retry-After") != "3" {
				t.Fatalf("Retry-After = %q", res.Header.Get("Retry-After"))
			}
			if len(fs.all()) != 0 {
				t.Fatalf("records stored despite %d", tt.code)
			}
		})
	}
}

// TestAnswersOnlyAfterAppend holds Append open and checks that no answer
// reaches the client before it returns.
func TestAnswersOnlyAfterAppend(t *testing.T) {
	fs := &fakeSink{entered: make(chan struct{}, 1), release: make(chan struct{})}
	base := startServer(t, DefaultConfig(), fs)
	type result struct {
		code int
		err  error
	}
	got := make(chan result, 1)
	go func() {
		res, err := http.Post(base+"/td.db1.tbl1", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			got <- result{err: err}
			return
		}
		res.Body.Close()
		got <- result{code: res.StatusCode}
	}()
	select {
	case <-fs.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("Append never called")
	}
	select {
	case r := <-got:
		t.Fatalf("answered %d before Append returned", r.code)
	default:
	}
	close(fs.release)
	select {
	case r := <-got:
		if r.err != nil || r.code != 200 {
			t.Fatalf("got %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer after Append returned")
	}
	if len(fs.all()) != 1 {
		t.Fatal("record not stored")
	}
}

func TestConfigValidate(t *testing.T) {
	err := configWith(func(c *Config) {
		c.Addr, c.MaxBodyBytes, c.MaxDecompressedBytes, c.MaxRecords, c.RetryAfter = "nohost", -1, 0, -2, 0
	}).Validate()
	for _, w := range []string{"addr", "max_body_bytes", "max_decompressed_bytes", "max_records", "retry_after"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %s", err, w)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	if _, err := New(DefaultConfig(), nil, nil); err == nil {
		t.Error("nil intake accepted")
	}
}

// FuzzDecodeRecords fuzzes this source's decoding (tdrecord.DecodeInHTTP
// with the source's limits) for each payload kind; the high bit of k sets
// the time parameter to 99. Every failure must be a tdrecord error, and
// what is accepted must be records with an integer time.
func FuzzDecodeRecords(f *testing.F) {
	f.Add(byte(0), []byte(`[{"a":1,"time":1.5},{"b":[1,{"c":null}]}]`))
	f.Add(byte(1), []byte("{\"a\":1}\n{\"time\":2}"))
	f.Add(byte(2), []byte{0x92, 0x81, 0xa1, 'a', 0x01, 0x81, 0xa4, 't', 'i', 'm', 'e', 0xcb, 0x41, 0xd9, 0x4c, 0x9c, 0x40, 0, 0, 0})
	types := []string{"application/json", "application/x-ndjson", "application/msgpack"}
	srv := &Server{cfg: configWith(func(c *Config) { c.MaxRecords = 1000 })}
	f.Fuzz(func(t *testing.T, k byte, payload []byte) {
		req := tdrecord.InHTTPRequest{ContentType: types[int(k&0x7f)%len(types)], Body: payload, Now: 1}
		if k&0x80 != 0 {
			req.RawQuery = "time=99"
		}
		out, n, err := tdrecord.DecodeInHTTP(req, srv.limits())
		if err != nil {
			if tdrecord.KindOf(err) == 0 {
				t.Fatalf("error %v is not a tdrecord error", err)
			}
			return
		}
		recs, err := decodeStream(out)
		if err != nil {
			t.Fatalf("output does not decode: %v", err)
		}
		if len(recs) != n {
			t.Fatalf("count %d, stream has %d", n, len(recs))
		}
		for _, r := range recs {
			if _, ok := r["time"].(int64); !ok {
				t.Fatalf("time is %T", r["time"])
			}
		}
	})
}
