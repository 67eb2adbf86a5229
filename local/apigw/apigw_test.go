package apigw

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/events")

var fixedNow = time.Date(2026, 11, 22, 2, 30, 15, 123e6, time.UTC)

// recorder is an invoke func that keeps the last event and answers with a
// fixed response.
type recorder struct {
	mu     sync.Mutex
	events [][]byte
	answer []byte
}

func (rec *recorder) invoke(_ context.Context, payload []byte) ([]byte, error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.events = append(rec.events, append([]byte(nil), payload...))
	if rec.answer != nil {
		return rec.answer, nil
	}
	return []byte(`{"statusCode":200,"body":"ok"}`), nil
}

func (rec *recorder) last(tb testing.TB) []byte {
	tb.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) == 0 {
		tb.Fatal("no event recorded")
	}
	return rec.events[len(rec.events)-1]
}

// startGateway serves a Gateway built from cfg on a loopback httptest server.
func startGateway(tb testing.TB, cfg Config) *httptest.Server {
	tb.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fixedNow }
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	gw, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(gw)
	tb.Cleanup(srv.Close)
	return srv
}

func do(tb testing.TB, req *http.Request) (*http.Response, []byte) {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

func newRequest(tb testing.TB, method, url string, body []byte, headers map[string]string) *http.Request {
	tb.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Add(k, v)
	}
	return req
}

// normalize replaces the per-run values of an event (ports, ids) so it can
// be compared with a golden file.
func normalize(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		tb.Fatalf("event does not decode as events.APIGatewayV2HTTPRequest: %v", err)
	}
	if len(ev.RequestContext.RequestID) != 16 || !strings.HasSuffix(ev.RequestContext.RequestID, "=") {
		tb.Errorf("request id %q is not API Gateway shaped", ev.RequestContext.RequestID)
	}
	ev.RequestContext.RequestID = "REQUEST-ID"
	ev.Headers["host"] = "127.0.0.1:PORT"
	ev.Headers["x-forwarded-port"] = "PORT"
	if strings.HasPrefix(ev.Headers["x-amzn-trace-id"], "Root=1-") {
		ev.Headers["x-amzn-trace-id"] = "Root=1-TRACE"
	}
	out, err := MarshalEvent(ev)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "  "); err != nil {
		tb.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func TestEventGolden(t *testing.T) {
	rec := &recorder{}
	srv := startGateway(t, Config{
		Routes: []Route{
			{Key: "PUT /v3/table/import/{db}/{table}/{format}"},
			{Key: "POST /{tag}"},
			{Key: "GET /v3/table/list/{db}"},
			{Key: "$default"},
		},
		Invoke: rec.invoke,
	})
	msgpack := []byte{0x1f, 0x8b, 0x08, 0x00, 0x81, 0xa4, 't', 'i', 'm', 'e', 0xce, 0, 0, 0, 1}
	tests := []struct {
		name    string
		method  string
		path    string
		body    []byte
		headers map[string]string
	}{
		{name: "td_import_binary", method: "PUT", path: "/v3/table/import/sample_db/www_access/msgpack.gz?unique_id=4b825dc642cb6eb9a060e54bf8d69288",
			body: msgpack, headers: map[string]string{"Content-Type": "application/octet-stream", "Authorization": "TD1 1/abc"}},
		{name: "in_http_json", method: "POST", path: "/td.sample_db.www?time=1700000000",
			body: []byte(`{"host":"a","code":200}`), headers: map[string]string{"Content-Type": "application/json; charset=utf-8"}},
		{name: "form_is_base64", method: "POST", path: "/td.sample_db.www",
			body: []byte(`json={"a":1}`), headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{name: "get_multi_query_cookies", method: "GET", path: "/v3/table/list/sample_db?a=1&a=2&b=x%20y",
			headers: map[string]string{"Cookie": "c1=v1; c2=v2", "X-Multi": "one"}},
		{name: "default_route_escaped_path", method: "DELETE", path: "/some/path%2Fwith/escapes", body: []byte("plain text"),
			headers: map[string]string{"Content-Type": "text/plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, tt.method, srv.URL+tt.path, tt.body, tt.headers)
			if tt.name == "get_multi_query_cookies" {
				req.Header.Add("X-Multi", "two")
			}
			resp, body := do(t, req)
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("response %d %q", resp.StatusCode, body)
			}
			raw := rec.last(t)
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			got := []byte(ev.Body)
			if ev.IsBase64Encoded {
				var err error
				if got, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, tt.body) {
				t.Fatalf("body round trip: %q, want %q", got, tt.body)
			}
			golden := filepath.Join("testdata", "events", tt.name+".json")
			norm := normalize(t, raw)
			if *update {
				if err := os.WriteFile(golden, norm, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(norm, want) {
				t.Fatalf("event differs from %s:\n%s", golden, norm)
			}
		})
	}
}

func TestIsTextContentType(t *testing.T) {
	tests := map[string]bool{
		"text/plain": true, "text/csv; charset=utf-8": true, "application/json": true, "Application/JSON; charset=utf-8": true,
		"application/xml": true, "application/javascript": true,
		"": false, "application/octet-stream": false, "application/x-www-form-urlencoded": false,
		"multipart/form-data; boundary=x": false, "application/x-msgpack": false, "application/vnd.api+json": false, "bogus/": false,
	}
	for ct, want := range tests {
		t.Run(ct, func(t *testing.T) {
			if got := IsTextContentType(ct); got != want {
				t.Fatalf("IsTextContentType(%q) = %v, want %v", ct, got, want)
			}
		})
	}
}

func TestRouteMatching(t *testing.T) {
	gw, err := New(Config{
		Routes: []Route{
			{Key: "PUT /v3/table/import/{db}/{table}/{format}"},
			{Key: "POST /v3/table/import/{db}/{table}/{format}"},
			{Key: "ANY /v3/{proxy+}"},
			{Key: "GET /v3/table/list/{db}"},
			{Key: "GET /v3/table/list/special"},
			{Key: "ANY /v3/table/list/{db}"},
			{Key: "POST /{tag}"},
			{Key: "GET /"},
			{Key: "$default"},
		},
		Invoke: func(context.Context, []byte) ([]byte, error) { return nil, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		want         string
		params       map[string]string
	}{
		{"PUT", "/v3/table/import/db1/t1/msgpack.gz", "PUT /v3/table/import/{db}/{table}/{format}", map[string]string{"db": "db1", "table": "t1", "format": "msgpack.gz"}},
		{"GET", "/v3/table/import/db1/t1/msgpack.gz", "ANY /v3/{proxy+}", map[string]string{"proxy": "table/import/db1/t1/msgpack.gz"}},
		{"GET", "/v3/table/list/special", "GET /v3/table/list/special", nil},
		{"GET", "/v3/table/list/db2", "GET /v3/table/list/{db}", map[string]string{"db": "db2"}},
		{"DELETE", "/v3/table/list/db2", "ANY /v3/table/list/{db}", map[string]string{"db": "db2"}},
		{"POST", "/td.a.b", "POST /{tag}", map[string]string{"tag": "td.a.b"}},
		{"POST", "/td%2Ea.b", "POST /{tag}", map[string]string{"tag": "td.a.b"}},
		{"POST", "/a/b", "$default", nil},
		{"GET", "/", "GET /", nil},
		{"POST", "/", "$default", nil},
		{"GET", "/v3", "$default", nil},
		{"GET", "/v3/", "$default", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			key, params, ok := gw.Match(tt.method, tt.path)
			if !ok || key != tt.want {
				t.Fatalf("matched %q (%v), want %q", key, ok, tt.want)
			}
			if len(params) != len(tt.params) {
				t.Fatalf("params %v, want %v", params, tt.params)
			}
			for k, v := range tt.params {
				if params[k] != v {
					t.Fatalf("params %v, want %v", params, tt.params)
				}
			}
		})
	}
}

func TestNoRouteIs404(t *testing.T) {
	rec := &recorder{}
	srv := startGateway(t, Config{Routes: []Route{{Key: "POST /{tag}"}}, Invoke: rec.invoke})
	resp, body := do(t, newRequest(t, "GET", srv.URL+"/x", nil, nil))
	if resp.StatusCode != 404 || string(body) != `{"message":"Not Found"}` || resp.Header.Get("Apigw-Requestid") == "" {
		t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Header)
	}
}

func TestResponses(t *testing.T) {
	tests := []struct {
		name       string
		answer     string
		wantStatus int
		wantBody   string
		wantHeader map[string][]string
	}{
		{name: "structured", answer: `{"statusCode":201,"headers":{"content-type":"text/plain","x-a":"1"},"body":"created"}`,
			wantStatus: 201, wantBody: "created", wantHeader: map[string][]string{"Content-Type": {"text/plain"}, "X-A": {"1"}}},
		{name: "base64 body", answer: `{"statusCode":200,"body":"AAEC","isBase64Encoded":true,"headers":{"content-type":"application/octet-stream"}}`,
			wantStatus: 200, wantBody: "\x00\x01\x02"},
		{name: "cookies and multi-value headers", answer: `{"statusCode":200,"cookies":["a=1","b=2; Path=/"],"multiValueHeaders":{"x-m":["1","2"]},"body":""}`,
			wantStatus: 200, wantHeader: map[string][]string{"Set-Cookie": {"a=1", "b=2; Path=/"}, "X-M": {"1", "2"}}},
		{name: "no status code", answer: `{"hello":"world"}`, wantStatus: 200, wantBody: `{"hello":"world"}`,
			wantHeader: map[string][]string{"Content-Type": {"application/json"}}},
		{name: "bare string", answer: `"hi"`, wantStatus: 200, wantBody: `"hi"`},
		{name: "not json", answer: `hi`, wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`},
		{name: "bad base64", answer: `{"statusCode":200,"body":"!!","isBase64Encoded":true}`, wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`},
		{name: "bad status", answer: `{"statusCode":9000}`, wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{answer: []byte(tt.answer)}
			srv := startGateway(t, Config{Routes: []Route{{Key: "$default"}}, Invoke: rec.invoke})
			resp, body := do(t, newRequest(t, "GET", srv.URL+"/", nil, nil))
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			for k, want := range tt.wantHeader {
				if got := resp.Header.Values(k); strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestFailures(t *testing.T) {
	block := func(ctx context.Context, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	fail := func(context.Context, []byte) ([]byte, error) { return nil, errors.New("function error: boom") }
	rec := &recorder{}
	tests := []struct {
		name       string
		cfg        Config
		body       []byte
		wantStatus int
		wantBody   string
	}{
		{name: "function error", cfg: Config{Invoke: fail}, wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`},
		{name: "integration timeout", cfg: Config{Invoke: block, IntegrationTimeout: 50 * time.Millisecond},
			wantStatus: 503, wantBody: `{"message":"Service Unavailable"}`},
		{name: "body over the default 10 MB", cfg: Config{Invoke: rec.invoke}, body: make([]byte, 10*1024*1024+1),
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
		{name: "body at the limit", cfg: Config{Invoke: rec.invoke, MaxBodyBytes: 100}, body: make([]byte, 100),
			wantStatus: 200, wantBody: "ok"},
		{name: "body over a small limit", cfg: Config{Invoke: rec.invoke, MaxBodyBytes: 100}, body: make([]byte, 101),
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Routes = []Route{{Key: "$default"}}
			srv := startGateway(t, tt.cfg)
			resp, body := do(t, newRequest(t, "POST", srv.URL+"/x", tt.body, map[string]string{"Content-Type": "application/octet-stream"}))
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

// TestWithLambdaHandler drives a real aws-lambda-go handler (in process)
// through the gateway: the event it decodes and the response it encodes are
// the library's own.
func TestWithLambdaHandler(t *testing.T) {
	h := lambda.NewHandler(func(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		body, _ := base64.StdEncoding.DecodeString(req.Body)
		return events.APIGatewayV2HTTPResponse{
			StatusCode: 200,
			Headers:    map[string]string{"content-type": "application/json"},
			Body:       `{"db":"` + req.PathParameters["db"] + `","bytes":` + itoa(len(body)) + `,"unique_id":"` + req.QueryStringParameters["unique_id"] + `"}`,
		}, nil
	})
	srv := startGateway(t, Config{Routes: []Route{{Key: "PUT /v3/table/import/{db}/{table}/{format}"}}, Invoke: h.Invoke})
	resp, body := do(t, newRequest(t, "PUT", srv.URL+"/v3/table/import/d1/t1/msgpack.gz?unique_id=u1", []byte{1, 2, 3, 0xff},
		map[string]string{"Content-Type": "application/octet-stream"}))
	if resp.StatusCode != 200 || string(body) != `{"db":"d1","bytes":4,"unique_id":"u1"}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestConfigValidate(t *testing.T) {
	inv := func(context.Context, []byte) ([]byte, error) { return nil, nil }
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{name: "ok", cfg: Config{Routes: []Route{{Key: "$default"}, {Key: "GET /a/{b}/{c+}"}}, Invoke: inv}},
		{name: "no routes", cfg: Config{}, want: []string{"routes: at least one"}},
		{name: "bad keys", cfg: Config{Routes: []Route{{Key: "FETCH /a"}, {Key: "GET a"}, {Key: "GET /{p+}/x"}, {Key: "GET /{a}/{a}"}, {Key: "GET /a//b"}}, Invoke: inv},
			want: []string{"routes[0].key", "routes[1].key", "routes[2].key", "routes[3].key", "routes[4].key"}},
		{name: "duplicate and no integration", cfg: Config{Routes: []Route{{Key: "GET /a"}, {Key: "GET /a"}}},
			want: []string{"duplicate route key", "routes[0].invoke"}},
		{name: "negative limits", cfg: Config{Routes: []Route{{Key: "$default"}}, Invoke: inv, MaxBodyBytes: -1, IntegrationTimeout: -1},
			want: []string{"max_body_bytes", "integration_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Defaults(tt.cfg).Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func BenchmarkGatewayRoundTrip(b *testing.B) {
	rec := &recorder{answer: []byte(`{"statusCode":200,"body":"ok"}`)}
	cfg := Defaults(Config{Routes: []Route{{Key: "PUT /v3/table/import/{db}/{table}/{format}"}}, Invoke: func(ctx context.Context, p []byte) ([]byte, error) {
		return rec.answer, nil
	}, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	gw, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte{0x81, 0xa1, 'a', 0x01}, 64*1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest("PUT", "/v3/table/import/db/t/msgpack.gz?unique_id=x", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/octet-stream")
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// TestOversizedBodyGets413 sends bodies over the limit with and without a
// Content-Length, several times each: the client must read the 413 and its
// JSON message every time (not a connection reset while it is still
// sending).
func TestOversizedBodyGets413(t *testing.T) {
	rec := &recorder{}
	srv := startGateway(t, Config{Routes: []Route{{Key: "$default"}}, Invoke: rec.invoke})
	tests := []struct {
		name    string
		size    int
		chunked bool
	}{
		{name: "11 MiB with Content-Length", size: 11 << 20},
		{name: "64 MiB with Content-Length", size: 64 << 20},
		{name: "11 MiB chunked", size: 11 << 20, chunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := make([]byte, tt.size)
			for range 3 {
				var r io.Reader = bytes.NewReader(body)
				if tt.chunked {
					r = io.MultiReader(r) // hides the length: chunked encoding
				}
				req, err := http.NewRequest("POST", srv.URL+"/td.db.tbl", r)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, got := do(t, req)
				if resp.StatusCode != 413 || string(got) != `{"message":"Request Entity Too Large"}` || resp.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("got %d %q (%s), want 413 and the JSON message", resp.StatusCode, got, resp.Header.Get("Content-Type"))
				}
			}
		})
	}
}

// TestBinaryBodyUnderTextContentType pins what an HTTP API passes for bytes
// that are not UTF-8 (a gzip body): under a text Content-Type the body is
// delivered as text, each invalid byte replaced by U+FFFD (lossy, as API
// Gateway does); under any other Content-Type it is base64 and intact,
// whatever the Content-Encoding.
func TestBinaryBodyUnderTextContentType(t *testing.T) {
	gz := []byte{0x1f, 0x8b, 0x08, 0x00, 'a', 0xff, 'b'}
	tests := []struct {
		contentType string
		wantBase64  bool
		wantBody    string
	}{
		{contentType: "application/json", wantBody: "\x1f\ufffd\x08\x00a\ufffdb"},
		{contentType: "text/plain; charset=utf-8", wantBody: "\x1f\ufffd\x08\x00a\ufffdb"},
		{contentType: "application/x-ndjson", wantBase64: true, wantBody: string(gz)},
		{contentType: "application/msgpack", wantBase64: true, wantBody: string(gz)},
		{contentType: "application/octet-stream", wantBase64: true, wantBody: string(gz)},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			rec := &recorder{}
			srv := startGateway(t, Config{Routes: []Route{{Key: "$default"}}, Invoke: rec.invoke})
			do(t, newRequest(t, "POST", srv.URL+"/td.db.tbl", gz, map[string]string{"Content-Type": tt.contentType, "Content-Encoding": "gzip"}))
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(rec.last(t), &ev); err != nil {
				t.Fatal(err)
			}
			got := eventBody(t, ev.Body, ev.IsBase64Encoded)
			if ev.IsBase64Encoded != tt.wantBase64 || got != tt.wantBody {
				t.Fatalf("isBase64Encoded %v body %q, want %v %q", ev.IsBase64Encoded, got, tt.wantBase64, tt.wantBody)
			}
		})
	}
}

// eventBody is an event's body as the function reads it.
func eventBody(tb testing.TB, body string, isBase64 bool) string {
	tb.Helper()
	if !isBase64 {
		return body
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestOversizedBodyRawClient is a client that, like curl or Fluent Bit,
// writes the whole request before it reads the answer: it must still get
// the 413, not a reset of the connection it is writing to.
func TestOversizedBodyRawClient(t *testing.T) {
	rec := &recorder{}
	srv := startGateway(t, Config{Routes: []Route{{Key: "$default"}}, Invoke: rec.invoke})
	for range 3 {
		status, got := rawPost(t, srv.URL, "/td.db.tbl", 20<<20)
		if status != 413 || got != `{"message":"Request Entity Too Large"}` {
			t.Fatalf("got %d %q", status, got)
		}
	}
}

// rawPost writes a whole POST of size zero bytes to path before it reads
// the answer, as curl and Fluent Bit do, and returns the answer.
func rawPost(t *testing.T, base, path string, size int) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, size)
	if _, err := conn.Write(append([]byte(head), make([]byte, size)...)); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

func TestTextBody(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "", want: ""},
		{in: `{"a":"é"}`, want: `{"a":"é"}`},
		{in: "a\xffb", want: "a\ufffdb"},
		{in: "\x1f\x8b\x08", want: "\x1f\ufffd\x08"},
		{in: "\xe2\x82", want: "\ufffd\ufffd"}, // a truncated sequence: one U+FFFD per byte, as encoding/json
	}
	for _, tt := range tests {
		if got := TextBody([]byte(tt.in)); got != tt.want {
			t.Errorf("TextBody(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
