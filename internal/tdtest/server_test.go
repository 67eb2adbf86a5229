package tdtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	td "github.com/treasure-data/td-client-go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/shared/tdimport"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// startReceiver serves a receiver on a free loopback port.
func startReceiver(t testing.TB, cfg Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Serve(context.Background(), ln, cfg)
	if err != nil {
		t.Fatalf("start receiver: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close receiver: %v", err)
		}
	})
	return s
}

// body builds a gzip msgpack stream of the records.
func body(t testing.TB, recs ...map[string]any) []byte {
	t.Helper()
	var raw bytes.Buffer
	enc := msgpack.NewEncoder(&raw)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return gz.Bytes()
}

// zbody is body as zstd frames of at most 40 uncompressed bytes each (the
// forwarder sends one frame per append).
func zbody(t testing.TB, recs ...map[string]any) []byte {
	t.Helper()
	return zst(t, encode(t, anys(recs)...), 40)
}

func events(from, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"time": int64(1700000000 + from + i), "host": "h" + strconv.Itoa(from+i), "code": 200}
	}
	return out
}

func do(t testing.TB, method, u, key string, b []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "TD1 "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// tdClient is Treasure Data's own Go client pointed at the receiver over
// plain HTTP.
func tdClient(t testing.TB, s *Server, key string) *td.TDClient {
	t.Helper()
	u, _ := url.Parse(s.URL())
	port, _ := strconv.Atoi(u.Port())
	c, err := td.NewTDClient(td.Settings{ApiKey: key, Router: &td.FixedEndpointRouter{Endpoint: u.Hostname()}, Port: port, Transport: plainHTTP{}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// plainHTTP downgrades td-client-go's hard-wired https to http.
type plainHTTP struct{}

func (plainHTTP) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme = "http"
	return http.DefaultTransport.RoundTrip(r)
}

func TestTDClientCompatibility(t *testing.T) {
	s := startReceiver(t, Config{APIKey: "1/abc"})
	c := tdClient(t, s, "1/abc")
	if err := c.CreateDatabase("www", nil); err != nil {
		t.Fatalf("create database: %v", err)
	}
	if err := c.CreateLogTable("www", "access"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if err := c.CreateLogTable("www", "access"); err == nil {
		t.Fatal("second create table: want conflict error")
	}
	if _, err := c.Import("www", "access", "msgpack.gz", td.InMemoryBlob(body(t, events(0, 5)...)), "uid-1"); err != nil {
		t.Fatalf("import: %v", err)
	}
	if _, err := c.Import("www", "access", "msgpack.gz", td.InMemoryBlob(body(t, events(0, 5)...)), "uid-1"); err != nil {
		t.Fatalf("repeated import: %v", err)
	}
	if _, err := c.Import("www", "access", "msgpack.gz", td.InMemoryBlob(body(t, events(5, 3)...)), ""); err != nil {
		t.Fatalf("import without id: %v", err)
	}
	tables, err := c.ListTables("www")
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	if len(*tables) != 1 || (*tables)[0].Name != "access" || (*tables)[0].Count != 8 {
		t.Fatalf("tables = %+v", *tables)
	}
	dbs, err := c.ListDatabases()
	if err != nil {
		t.Fatalf("list databases: %v", err)
	}
	if len(*dbs) != 1 || (*dbs)[0].Name != "www" || (*dbs)[0].Count != 8 {
		t.Fatalf("databases = %+v", *dbs)
	}
	if _, err := tdClient(t, s, "wrong").ListDatabases(); err == nil {
		t.Fatal("wrong key: want error")
	}
	if got := s.Duplicates(); got != 1 {
		t.Fatalf("Duplicates = %d, want 1", got)
	}
}

func TestImportStatuses(t *testing.T) {
	s := startReceiver(t, Config{APIKey: "k1", AutoCreate: false})
	key := "k1"
	mustOK := func(method, path string) {
		if resp, b := do(t, method, s.URL()+path, key, nil); resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	mustOK("POST", "/v3/database/create/www")
	mustOK("POST", "/v3/table/create/www/access/log")
	bad := func() []byte {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write([]byte{0x93, 1, 2, 3}) // an array, not a map
		_ = zw.Close()
		return gz.Bytes()
	}()
	tests := []struct {
		name   string
		method string
		path   string
		key    string
		body   []byte
		status int
	}{
		{"ok with id", "PUT", "/v3/table/import_with_id/www/access/u1/msgpack.gz", key, body(t, events(0, 2)...), 200},
		{"repeat id", "PUT", "/v3/table/import_with_id/www/access/u1/msgpack.gz", key, body(t, events(0, 2)...), 200},
		{"ok without id", "PUT", "/v3/table/import/www/access/msgpack.gz", key, body(t, events(2, 1)...), 200},
		{"ok zstd with id", "PUT", "/v3/table/import_with_id/www/access/z1/msgpack.zst", key, zbody(t, events(3, 2)...), 200},
		{"repeat id as zstd", "PUT", "/v3/table/import_with_id/www/access/u1/msgpack.zst", key, zbody(t, events(0, 2)...), 200},
		{"ok zstd without id", "PUT", "/v3/table/import/www/access/msgpack.zst", key, zbody(t, events(5, 1)...), 200},
		{"not zstd", "PUT", "/v3/table/import/www/access/msgpack.zst", key, []byte("plain"), 400},
		{"gzip as zstd", "PUT", "/v3/table/import/www/access/msgpack.zst", key, body(t, events(0, 1)...), 400},
		{"zstd window over 8 MiB", "PUT", "/v3/table/import/www/access/msgpack.zst", key, zstdHugeWindow, 400},
		{"zstd no time", "PUT", "/v3/table/import/www/access/msgpack.zst", key, zbody(t, map[string]any{"a": 1}), 422},
		{"zstd unknown table", "PUT", "/v3/table/import_with_id/www/other/z9/msgpack.zst", key, zbody(t, events(0, 1)...), 404},
		{"zstd format misspelt", "PUT", "/v3/table/import/www/access/msgpack.zstd", key, zbody(t, events(0, 1)...), 415},
		{"no key", "PUT", "/v3/table/import/www/access/msgpack.gz", "", body(t, events(0, 1)...), 401},
		{"wrong key", "PUT", "/v3/table/import/www/access/msgpack.gz", "nope", body(t, events(0, 1)...), 401},
		{"unknown table", "PUT", "/v3/table/import/www/other/msgpack.gz", key, body(t, events(0, 1)...), 404},
		{"bad name", "PUT", "/v3/table/import/WWW/access/msgpack.gz", key, body(t, events(0, 1)...), 400},
		{"json format", "PUT", "/v3/table/import/www/access/json.gz", key, body(t, events(0, 1)...), 415},
		{"not gzip", "PUT", "/v3/table/import/www/access/msgpack.gz", key, []byte("plain"), 400},
		{"not a map", "PUT", "/v3/table/import/www/access/msgpack.gz", key, bad, 422},
		{"no time", "PUT", "/v3/table/import/www/access/msgpack.gz", key, body(t, map[string]any{"a": 1}), 422},
		{"string time", "PUT", "/v3/table/import/www/access/msgpack.gz", key, body(t, map[string]any{"time": "now"}), 422},
		{"db exists", "POST", "/v3/database/create/www", key, nil, 409},
		{"table without db", "POST", "/v3/table/create/nodb/access/log", key, nil, 404},
		{"list unknown db", "GET", "/v3/table/list/nodb", key, nil, 404},
		{"show table", "GET", "/v3/table/show/www/access", key, nil, 200},
		{"unknown api", "GET", "/v3/job/list", key, nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := do(t, tt.method, s.URL()+tt.path, tt.key, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tt.status)
			}
			if tt.status >= 400 && !strings.Contains(b, `"error"`) {
				t.Fatalf("error body %q lacks TD's error field", b)
			}
		})
	}
	if got := s.Count("www", "access"); got != 6 {
		t.Fatalf("Count = %d, want 6 (2 + 1 gzip, 2 + 1 zstd, the repeats not stored)", got)
	}
	if got := s.Tables(); len(got) != 1 || got[0].Imports != 4 {
		t.Fatalf("Tables = %+v", got)
	}
}

func TestAutoCreateAndReadBack(t *testing.T) {
	dir := t.TempDir()
	s := startReceiver(t, Config{APIKey: "k", AutoCreate: true, Dir: dir})
	for i, uid := range []string{"a1", "a2", "a1", "../escape"} {
		resp, b := do(t, "PUT", s.URL()+"/v3/table/import_with_id/app/logs/"+url.PathEscape(uid)+"/msgpack.gz", "k", body(t, events(i*10, 10)...))
		if resp.StatusCode != 200 {
			t.Fatalf("import %s: %d %s", uid, resp.StatusCode, b)
		}
	}
	if got := s.Count("app", "logs"); got != 30 {
		t.Fatalf("Count = %d, want 30", got)
	}
	recs := s.Records("app", "logs")
	want := make([]string, 0, len(recs))
	for _, r := range recs {
		want = append(want, HashRecord(r))
	}
	got := s.Hashes("app", "logs")
	if len(got) != 30 {
		t.Fatalf("%d hashes", len(got))
	}
	seen := map[string]bool{}
	for _, h := range got {
		seen[h] = true
	}
	for _, h := range want {
		if !seen[h] {
			t.Fatalf("hash %s of a stored record missing from Hashes", h)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "app", "logs", "*.msgpack.gz"))
	if err != nil || len(files) != 3 {
		t.Fatalf("persisted files %v (err %v), want 3", files, err)
	}
	var total int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := DecodeStream(bytes.NewReader(b), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		total += len(rs)
	}
	if total != 30 {
		t.Fatalf("persisted %d records, want 30", total)
	}
}

// TestZstdImportStoresWhatGzipStores sends the same records as gzip to one
// table and as multi-frame zstd to another: both tables hold the same
// records, the persisted files are gzip either way, and the zstd limits are
// the gzip ones.
func TestZstdImportStoresWhatGzipStores(t *testing.T) {
	dir := t.TempDir()
	s := startReceiver(t, Config{APIKey: "k", AutoCreate: true, Dir: dir})
	c := &tdimport.Client{Endpoint: s.URL(), APIKey: "k", Logger: slog.New(slog.DiscardHandler), Policy: tdimport.RetryPolicy{MaxAttempts: 1}}
	ctx := context.Background()
	recs := events(0, 500)
	imports := []struct {
		table, uid, format string
		body               []byte
	}{
		{"via_gzip", "c1", tdimport.FormatGzip, body(t, recs[:300]...)},
		{"via_gzip", "c2", tdimport.FormatGzip, body(t, recs[300:]...)},
		{"via_zstd", "c1", tdimport.FormatZstd, zbody(t, recs[:300]...)},
		{"via_zstd", "c2", tdimport.FormatZstd, zst(t, encode(t, anys(recs[300:])...), 0)},
		{"via_zstd", "c1", tdimport.FormatZstd, zbody(t, recs[:300]...)}, // repeated id: not stored again
	}
	for _, im := range imports {
		if _, err := c.ImportWithIDFormat(ctx, "app", im.table, im.uid, im.format, im.body); err != nil {
			t.Fatalf("import %s %s: %v", im.table, im.uid, err)
		}
	}
	if resp, b := do(t, "PUT", s.URL()+"/v3/table/import/app/via_zstd/msgpack.zst", "k", zbody(t, events(1000, 1)...)); resp.StatusCode != 200 {
		t.Fatalf("import without id: %d %s", resp.StatusCode, b)
	}
	gzHashes, zstHashes := s.Hashes("app", "via_gzip"), s.Hashes("app", "via_zstd")
	if len(gzHashes) != 500 || len(zstHashes) != 501 || s.Duplicates() != 1 {
		t.Fatalf("%d gzip records, %d zstd records, %d duplicates; want 500, 501, 1", len(gzHashes), len(zstHashes), s.Duplicates())
	}
	want := append([]string(nil), gzHashes...)
	want = append(want, HashRecord(events(1000, 1)[0]))
	sort.Strings(want)
	if !slices.Equal(want, zstHashes) {
		t.Fatal("the zstd table holds other records than the gzip table")
	}
	for _, table := range []string{"via_gzip", "via_zstd"} {
		files, err := filepath.Glob(filepath.Join(dir, "app", table, "*.msgpack.gz"))
		if err != nil || len(files) != map[string]int{"via_gzip": 2, "via_zstd": 3}[table] {
			t.Fatalf("%s: persisted %v (%v)", table, files, err)
		}
		var hashes []string
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := DecodeStream(bytes.NewReader(b), DefaultLimits())
			if err != nil {
				t.Fatalf("%s is not a gzip msgpack stream: %v", f, err)
			}
			for _, r := range rs {
				hashes = append(hashes, HashRecord(r))
			}
		}
		sort.Strings(hashes)
		if !slices.Equal(hashes, s.Hashes("app", table)) {
			t.Fatalf("%s: the persisted files hold other records than the table", table)
		}
	}

	t.Run("limits", func(t *testing.T) {
		small := startReceiver(t, Config{APIKey: "k", AutoCreate: true, MaxBodyBytes: 1000, Limits: tdrecord.Limits{MaxDecompressedBytes: 4096, MaxEvents: 10, MaxDepth: 8, MaxKeys: 8}})
		bomb := zst(t, encode(t, map[string]any{"time": 1, "s": string(make([]byte, 16<<20))}), 0)
		tests := []struct {
			name   string
			body   []byte
			status int
		}{
			{"within", zbody(t, events(0, 3)...), 200},
			{"bomb", bomb, 413},
			{"too many records", zbody(t, events(0, 11)...), 413},
			{"body too large", zst(t, encode(t, map[string]any{"time": 1, "s": randomHex(2000)}), 0), 413},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, b := do(t, "PUT", small.URL()+"/v3/table/import_with_id/app/via_zstd/"+strings.ReplaceAll(tt.name, " ", "_")+"/msgpack.zst", "k", tt.body)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tt.status)
				}
			})
		}
	})
}

func anys(recs []map[string]any) []any {
	out := make([]any, len(recs))
	for i, r := range recs {
		out[i] = r
	}
	return out
}

// randomHex is n incompressible hex characters.
func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func TestFailureInjectionWithRetryingClient(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter time.Duration
	}{
		{"500", 500, 0},
		{"429 with Retry-After", 429, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startReceiver(t, Config{APIKey: "k", AutoCreate: true})
			s.FailNext(2, tt.status, tt.retryAfter)
			c := &tdimport.Client{Endpoint: s.URL(), APIKey: "k", Logger: slog.New(slog.DiscardHandler), Policy: tdimport.RetryPolicy{MaxAttempts: 5, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := c.ImportWithID(ctx, "www", "access", "chunk-1", body(t, events(0, 4)...))
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if res.Attempts != 3 || s.Failures() != 2 {
				t.Fatalf("attempts %d, failures %d; want 3 and 2", res.Attempts, s.Failures())
			}
			if got := s.Count("www", "access"); got != 4 {
				t.Fatalf("Count = %d", got)
			}
		})
	}
	t.Run("retry-after header and control endpoint", func(t *testing.T) {
		s := startReceiver(t, Config{APIKey: "k", AutoCreate: true})
		resp, b := do(t, "POST", s.URL()+"/_spillway/fail", "", []byte(`{"next":1,"status":429,"retry_after":"2s"}`))
		if resp.StatusCode != 200 {
			t.Fatalf("control: %d %s", resp.StatusCode, b)
		}
		resp, _ = do(t, "GET", s.URL()+"/v3/database/list", "k", nil)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
			t.Fatalf("status %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		resp, _ = do(t, "GET", s.URL()+"/v3/database/list", "k", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("after the injected failure: %d", resp.StatusCode)
		}
		for _, bad := range []string{`{"next":1,"status":200}`, `{"next":1,"status":500,"extra":1}`, `{"next":1,"status":500,"retry_after":"x"}`} {
			if resp, _ := do(t, "POST", s.URL()+"/_spillway/fail", "", []byte(bad)); resp.StatusCode != 400 {
				t.Fatalf("control %s: status %d, want 400", bad, resp.StatusCode)
			}
		}
	})
}

func TestWaitCount(t *testing.T) {
	s := startReceiver(t, Config{APIKey: "k", AutoCreate: true})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- s.WaitCount(ctx, "www", "access", 6)
	}()
	for i := 0; i < 3; i++ {
		if resp, b := do(t, "PUT", s.URL()+"/v3/table/import/www/access/msgpack.gz", "k", body(t, events(i*2, 2)...)); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WaitCount(ctx, "www", "access", 7); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitCount on cancelled ctx = %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{MaxBodyBytes: -1, APIKey: "a b"}); err == nil || !strings.Contains(err.Error(), "MaxBodyBytes") || !strings.Contains(err.Error(), "APIKey") {
		t.Fatalf("New with bad config: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Serve(context.Background(), ln, Config{MaxBodyBytes: -1}); err == nil {
		t.Fatal("Serve with bad config: want error")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve with bad config left the listener open: %v", err)
	}
}

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

// client is a one-attempt TD import client of rv.
func client(tb testing.TB, rv *Server) *tdimport.Client {
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
			rv := NewTest(t, Config{APIKey: "k", AutoCreate: true, GzipOnly: tc.gzipOnly})
			c := client(t, rv)
			_, err := c.ImportWithIDFormat(context.Background(), "db1", "tbl", "u1", tc.format, tc.body)
			if tc.status != 0 {
				var se *tdimport.StatusError
				if !errors.As(err, &se) || se.StatusCode != tc.status || !tdimport.IsPermanent(err) {
					t.Fatalf("err = %v, want a permanent %d", err, tc.status)
				}
				if n := rv.Stats().Records; n != 0 {
					t.Fatalf("refused upload stored %d records", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := rv.Count("db1", "tbl"); n != 300 || !reflect.DeepEqual(rv.Records("db1", "tbl"), decodeAll(t, raw)) {
				t.Fatalf("stored %d records, not the ones sent", n)
			}
			if got := rv.Stats().Formats; got[tc.format] != 1 || len(got) != 1 {
				t.Fatalf("Formats = %v", got)
			}
		})
	}
}

// decodeAll decodes a msgpack stream as the receiver does.
func decodeAll(tb testing.TB, raw []byte) []Record {
	tb.Helper()
	recs, _, err := decodeBody(gz(tb, raw), tdimport.FormatGzip, DefaultLimits(), false)
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// TestGzipOnlyFallback is the forwarder's fallback as a client sees it: a
// zstd upload refused 415, the same chunk sent as gzip taken, a repeat in
// either format deduplicated by unique_id; in count-only mode.
func TestGzipOnlyFallback(t *testing.T) {
	raw := stream(t, 0, 50)
	for _, gzipOnly := range []bool{false, true} {
		rv := NewTest(t, Config{APIKey: "k", AutoCreate: true, CountOnly: true, GzipOnly: gzipOnly})
		c := client(t, rv)
		ctx := context.Background()
		_, err := c.ImportWithIDFormat(ctx, "db1", "tbl", "chunk1", tdimport.FormatZstd, zst(t, raw, 100))
		if gzipOnly != tdimport.IsPermanent(err) || !gzipOnly && err != nil {
			t.Fatalf("gzipOnly %v: zstd upload: %v", gzipOnly, err)
		}
		if _, err := c.ImportWithID(ctx, "db1", "tbl", "chunk1", gz(t, raw)); err != nil {
			t.Fatalf("gzipOnly %v: gzip upload: %v", gzipOnly, err)
		}
		st := rv.Stats()
		wantDups := 1
		if gzipOnly {
			wantDups = 0
		}
		if st.Records != 50 || st.Duplicates != wantDups || st.Requests != 2 || len(rv.AllRecords()) != 0 {
			t.Fatalf("gzipOnly %v: %+v, %d records kept", gzipOnly, st, len(rv.AllRecords()))
		}
		if f := st.Formats; f[tdimport.FormatZstd] != 1 || f[tdimport.FormatGzip] != 1 {
			t.Fatalf("Formats = %v", f)
		}
	}
}

// BenchmarkDecode compares the receiver's cost per record for the two
// formats, as the forwarder benchmark counts records (CountOnly).
func BenchmarkDecode(b *testing.B) {
	raw := stream(b, 0, 20000)
	lim := DefaultLimits()
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
				if _, n, err := decodeBody(tc.body, tc.format, lim, true); err != nil || n != 20000 {
					b.Fatalf("%d records, %v", n, err)
				}
			}
		})
	}
}
