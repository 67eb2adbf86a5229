package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/spillwayhq/spillway/local/lambdarun"
)

// restRoutes are the resources of the Terraform module's REST API.
var restRoutes = []Route{{Key: "ANY /{proxy+}"}, {Key: "ANY /"}}

func restConfig(invoke InvokeFunc) Config {
	return Config{Kind: KindREST, Stage: "ingest", BinaryMediaTypes: []string{"*/*"}, Routes: restRoutes, Invoke: invoke}
}

// TestRESTEvent checks the payload format 1.0 event of a REST API: the
// path without the stage, the matched resource and {proxy+}, headers and
// decoded query values, and, with binaryMediaTypes */*, every body base64
// and intact whatever its Content-Type and Content-Encoding (the gzip body
// under application/json that an HTTP API mangles).
func TestRESTEvent(t *testing.T) {
	gz := []byte{0x1f, 0x8b, 0x08, 0x00, 'a', 0xff, 'b'}
	tests := []struct {
		name, path, contentType string
		binary                  []string
		wantResource, wantPath  string
		wantProxy               string
		wantBase64              bool
		wantBody                string
	}{
		{name: "gzip json", path: "/ingest/td.db.tbl?time_key=date&x=a%20b&x=c", contentType: "application/json", binary: []string{"*/*"},
			wantResource: "/{proxy+}", wantPath: "/td.db.tbl", wantProxy: "td.db.tbl", wantBase64: true, wantBody: string(gz)},
		{name: "no content type", path: "/ingest/v3/table/import/db/t/msgpack.gz", binary: []string{"*/*"},
			wantResource: "/{proxy+}", wantPath: "/v3/table/import/db/t/msgpack.gz", wantProxy: "v3/table/import/db/t/msgpack.gz", wantBase64: true, wantBody: string(gz)},
		{name: "root", path: "/ingest/", contentType: "application/msgpack", binary: []string{"*/*"},
			wantResource: "/", wantPath: "/", wantBase64: true, wantBody: string(gz)},
		{name: "text without binary media types", path: "/ingest/td.db.tbl", contentType: "application/json",
			wantResource: "/{proxy+}", wantPath: "/td.db.tbl", wantProxy: "td.db.tbl", wantBody: "\x1f\ufffd\x08\x00a\ufffdb"},
		{name: "type wildcard", path: "/ingest/td.db.tbl", contentType: "application/x-ndjson; charset=utf-8", binary: []string{"application/*"},
			wantResource: "/{proxy+}", wantPath: "/td.db.tbl", wantProxy: "td.db.tbl", wantBase64: true, wantBody: string(gz)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			cfg := restConfig(rec.invoke)
			cfg.BinaryMediaTypes = tt.binary
			srv := startGateway(t, cfg)
			h := map[string]string{"Content-Encoding": "gzip", "X-Multi": "1"}
			if tt.contentType != "" {
				h["Content-Type"] = tt.contentType
			}
			req := newRequest(t, "POST", srv.URL+tt.path, gz, h)
			req.Header.Add("X-Multi", "2")
			resp, body := do(t, req)
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			var ev events.APIGatewayProxyRequest
			if err := json.Unmarshal(rec.last(t), &ev); err != nil {
				t.Fatal(err)
			}
			got := eventBody(t, ev.Body, ev.IsBase64Encoded)
			if ev.IsBase64Encoded != tt.wantBase64 || got != tt.wantBody {
				t.Errorf("isBase64Encoded %v body %q, want %v %q", ev.IsBase64Encoded, got, tt.wantBase64, tt.wantBody)
			}
			rc := ev.RequestContext
			if ev.HTTPMethod != "POST" || ev.Resource != tt.wantResource || ev.Path != tt.wantPath || ev.PathParameters["proxy"] != tt.wantProxy ||
				rc.Stage != "ingest" || rc.Path != path.Join("/ingest", tt.wantPath) || rc.ResourcePath != tt.wantResource ||
				rc.Identity.SourceIP != "127.0.0.1" || len(rc.RequestID) != 16 || rc.RequestTimeEpoch != fixedNow.UnixMilli() {
				t.Errorf("event %+v", ev)
			}
			if ev.Headers["Content-Encoding"] != "gzip" || strings.Join(ev.MultiValueHeaders["X-Multi"], ",") != "1,2" || ev.Headers["X-Multi"] != "2" {
				t.Errorf("headers %v / %v", ev.Headers, ev.MultiValueHeaders)
			}
			if tt.name == "gzip json" && (ev.QueryStringParameters["time_key"] != "date" || strings.Join(ev.MultiValueQueryStringParameters["x"], "|") != "a b|c") {
				t.Errorf("query %v / %v", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
			}
		})
	}
}

// TestRESTFailures pins the REST API's own answers: another stage, the
// limits, timeouts and function failures.
func TestRESTFailures(t *testing.T) {
	block := func(ctx context.Context, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	fail := func(context.Context, []byte) ([]byte, error) { return nil, errors.New("function error: boom") }
	tooBig := func(context.Context, []byte) ([]byte, error) {
		return nil, fmt.Errorf("invoke: %w", lambdarun.ErrPayloadTooLarge)
	}
	answer := func(s string) InvokeFunc {
		return func(context.Context, []byte) ([]byte, error) { return []byte(s), nil }
	}
	rec := &recorder{}
	tests := []struct {
		name       string
		invoke     InvokeFunc
		path       string
		body       []byte
		timeout    time.Duration
		wantStatus int
		wantBody   string
	}{
		{name: "other stage", invoke: rec.invoke, path: "/prod/td.db.t", wantStatus: 403, wantBody: `{"message":"Forbidden"}`},
		{name: "stage prefix only", invoke: rec.invoke, path: "/ingestx/td.db.t", wantStatus: 403, wantBody: `{"message":"Forbidden"}`},
		{name: "function error", invoke: fail, path: "/ingest/x", wantStatus: 502, wantBody: `{"message":"Internal server error"}`},
		{name: "malformed response", invoke: answer(`"just a string"`), path: "/ingest/x", wantStatus: 502, wantBody: `{"message":"Internal server error"}`},
		{name: "no status code", invoke: answer(`{"body":"x"}`), path: "/ingest/x", wantStatus: 502, wantBody: `{"message":"Internal server error"}`},
		{name: "event over the invoke limit", invoke: tooBig, path: "/ingest/x", wantStatus: 413, wantBody: `{"message":"Request Too Long"}`},
		{name: "integration timeout", invoke: block, path: "/ingest/x", timeout: 50 * time.Millisecond, wantStatus: 504, wantBody: `{"message":"Endpoint request timed out"}`},
		{name: "body over 10 MB", invoke: rec.invoke, path: "/ingest/x", body: make([]byte, 10*1024*1024+1), wantStatus: 413, wantBody: "HTTP content length exceeded 10485760 bytes."},
		{name: "body at 10 MB", invoke: rec.invoke, path: "/ingest/x", body: make([]byte, 10*1024*1024), wantStatus: 200, wantBody: "ok"},
		{name: "base64 response", invoke: answer(`{"statusCode":201,"body":"aGk=","isBase64Encoded":true}`), path: "/ingest/x", wantStatus: 201, wantBody: "hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := restConfig(tt.invoke)
			cfg.IntegrationTimeout = tt.timeout
			srv := startGateway(t, cfg)
			resp, body := do(t, newRequest(t, "POST", srv.URL+tt.path, tt.body, map[string]string{"Content-Type": "application/json"}))
			if resp.StatusCode != tt.wantStatus || string(body) != tt.wantBody {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

// TestRESTOversizedBodyRawClient: a client that writes its whole request
// before reading (curl, Fluent Bit) reads the REST API's 413.
func TestRESTOversizedBodyRawClient(t *testing.T) {
	srv := startGateway(t, restConfig((&recorder{}).invoke))
	status, got := rawPost(t, srv.URL, "/ingest/td.db.tbl", 20<<20)
	if status != 413 || !strings.HasPrefix(got, "HTTP content length exceeded") {
		t.Fatalf("got %d %q", status, got)
	}
}

// TestRESTWithLambdaHandler drives an aws-lambda-go handler for
// events.APIGatewayProxyRequest through the REST front.
func TestRESTWithLambdaHandler(t *testing.T) {
	h := lambda.NewHandler(func(_ context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		body, _ := base64.StdEncoding.DecodeString(req.Body)
		return events.APIGatewayProxyResponse{
			StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"},
			Body: `{"path":"` + req.Path + `","bytes":` + itoa(len(body)) + `,"b64":` + fmt.Sprint(req.IsBase64Encoded) + `}`,
		}, nil
	})
	srv := startGateway(t, restConfig(h.Invoke))
	resp, body := do(t, newRequest(t, "PUT", srv.URL+"/ingest/v3/table/import/d1/t1/msgpack.gz", []byte{1, 2, 3, 0xff}, map[string]string{"Content-Type": "application/json"}))
	if resp.StatusCode != 200 || string(body) != `{"path":"/v3/table/import/d1/t1/msgpack.gz","bytes":4,"b64":true}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestRESTConfigValidate(t *testing.T) {
	inv := (&recorder{}).invoke
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no stage", cfg: Config{Kind: KindREST, Routes: restRoutes, Invoke: inv}, want: "stage"},
		{name: "default stage", cfg: Config{Kind: KindREST, Stage: "$default", Routes: restRoutes, Invoke: inv}, want: "stage"},
		{name: "binary types on an HTTP API", cfg: Config{BinaryMediaTypes: []string{"*/*"}, Routes: restRoutes, Invoke: inv}, want: "binary_media_types"},
		{name: "unknown kind", cfg: Config{Kind: "WEBSOCKET", Routes: restRoutes, Invoke: inv}, want: "kind"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Defaults(tt.cfg).Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one about %s", err, tt.want)
			}
		})
	}
	if d := Defaults(restConfig(inv)); d.IntegrationTimeout != 29*time.Second || d.Validate() != nil {
		t.Fatalf("REST defaults %+v: %v", d, d.Validate())
	}
}
