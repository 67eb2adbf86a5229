package ingest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// restReq is the REST API (payload format 1.0) form of apiReq: the path
// without the stage, decoded multi-value query parameters, headers as the
// client sent them.
func restReq(method, path, key, body string, base64Body bool, headers map[string]string) events.APIGatewayProxyRequest {
	p, query, _ := strings.Cut(path, "?")
	r := events.APIGatewayProxyRequest{
		Resource: "/{proxy+}", Path: p, HTTPMethod: method, Body: body, IsBase64Encoded: base64Body,
		Headers: map[string]string{}, MultiValueHeaders: map[string][]string{},
	}
	if key != "" {
		r.Headers["Authorization"] = "TD1 " + key
		r.MultiValueHeaders["Authorization"] = []string{"TD1 " + key}
	}
	for k, v := range headers {
		r.Headers[k] = v
		r.MultiValueHeaders[k] = []string{v}
	}
	if query != "" {
		r.QueryStringParameters, r.MultiValueQueryStringParameters = map[string]string{}, map[string][]string{}
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			r.QueryStringParameters[k] = v
			r.MultiValueQueryStringParameters[k] = append(r.MultiValueQueryStringParameters[k], v)
		}
	}
	r.RequestContext.Stage = "v1" // a stage named like a route's first segment
	r.RequestContext.Path = "/v1" + p
	r.RequestContext.RequestID = "req-1"
	r.RequestContext.Identity.SourceIP = "127.0.0.1"
	return r
}

// TestRESTEventsAsHTTPAPI sends the same requests as REST API events
// (payload 1.0, through Invoke) and as HTTP API events (payload 2.0): the
// answers are the same, and a compressed body under a text Content-Type
// that the HTTP API delivers as text (mangled: 415) is accepted when the
// REST API delivers it base64 (binaryMediaTypes */*).
func TestRESTEventsAsHTTPAPI(t *testing.T) {
	gz := gzBytes(t, []byte(`[{"msg":"a","date":1700000000.25},{"msg":"b","date":1700000001}]`))
	b64 := base64.StdEncoding.EncodeToString
	jsonGz := map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}
	imp := gzMsgpack(t, map[string]any{"time": int64(1700000000), "a": 1})
	tests := []struct {
		name         string
		method, path string
		key          string
		body         string
		base64       bool
		headers      map[string]string
		want         int // through both fronts when http is 0
		http         int // through the HTTP API, when it differs
		events       int
	}{
		{name: "json+gzip, base64 (REST) vs text (HTTP API)", method: "POST", path: "/td.testdb.www_access?time_key=date", key: keyWriter,
			body: b64(gz), base64: true, headers: jsonGz, want: 200, http: 415, events: 2},
		{name: "TD import", method: "PUT", path: "/v3/table/import/testdb/www_access/msgpack.gz", key: keyWriter, body: b64(imp), base64: true,
			headers: map[string]string{"Content-Type": "application/octet-stream"}, want: 200, events: 1},
		{name: "flush under a stage named v1", method: "POST", path: "/v1/flush?db=testdb", key: keyAdmin, want: 202},
		{name: "listing", method: "GET", path: "/v3/table/list/testdb", key: keyReader, want: 200},
		{name: "no key", method: "POST", path: "/td.testdb.www_access", body: b64(gz), base64: true, headers: jsonGz, want: 401},
		{name: "unknown route", method: "GET", path: "/nothing", key: keyWriter, want: 404},
		{name: "body over the limit", method: "POST", path: "/td.testdb.www_access", key: keyWriter, body: b64(make([]byte, 10<<20+1)), base64: true, headers: jsonGz, want: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest := newEnv(t, nil)
			payload, err := json.Marshal(restReq(tt.method, tt.path, tt.key, tt.body, tt.base64, tt.headers))
			if err != nil {
				t.Fatal(err)
			}
			out, err := rest.h.Invoke(context.Background(), payload)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			var resp events.APIGatewayProxyResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("REST: %d %s, want %d\n%s", resp.StatusCode, resp.Body, tt.want, rest.logs.String())
			}
			if got := len(decodeEntries(t, rest.kin.entries()).events); got != tt.events {
				t.Fatalf("REST: %d events in Kinesis, want %d", got, tt.events)
			}

			// The HTTP API delivers a text Content-Type as text.
			httpAPI := newEnv(t, nil)
			body, isB64 := tt.body, tt.base64
			if isB64 && tt.headers["Content-Type"] == "application/json" {
				raw, _ := base64.StdEncoding.DecodeString(body)
				body, isB64 = string([]rune(string(raw))), false // invalid bytes become U+FFFD
			}
			req := apiReq(tt.method, tt.path, tt.key, body, tt.headers)
			req.IsBase64Encoded = isB64
			v2 := httpAPI.call(t, req)
			want := tt.want
			if tt.http != 0 {
				want = tt.http
			}
			if v2.StatusCode != want {
				t.Fatalf("HTTP API: %d %s, want %d", v2.StatusCode, v2.Body, want)
			}
			if want == tt.want && (v2.Body != resp.Body && want != http.StatusOK) {
				t.Fatalf("answers differ:\nREST     %s\nHTTP API %s", resp.Body, v2.Body)
			}
			if want == http.StatusUnsupportedMediaType && !strings.Contains(v2.Body, "REST API URL") {
				t.Fatalf("the 415 does not name the REST API URL: %s", v2.Body)
			}
		})
	}
}

// TestRESTCallerIdentity: on an AWS_IAM method of a REST API the verified
// caller is requestContext.identity; it is scoped as the HTTP API's
// authorizer.iam caller is.
func TestRESTCallerIdentity(t *testing.T) {
	const ops = "arn:aws:iam::123456789012:user/ops"
	env := newEnv(t, func(c *Config) {
		c.AuthMode = AuthIAM
		c.IAMScopes = map[string]IAMScope{ops: {Databases: []string{"testdb"}, Read: true}}
	})
	for _, tt := range []struct {
		caller string
		want   int
	}{{ops, 200}, {"arn:aws:iam::123456789012:user/nobody", 403}} {
		req := restReq("GET", "/v3/table/list/testdb", "", "", false, nil)
		req.RequestContext.Identity.UserArn, req.RequestContext.Identity.AccessKey = tt.caller, "AKIDEXAMPLE"
		resp, err := env.h.HandleREST(context.Background(), req)
		if err != nil || resp.StatusCode != tt.want {
			t.Fatalf("%s: %d %s %v, want %d", tt.caller, resp.StatusCode, resp.Body, err, tt.want)
		}
	}
}

// TestInvokeRealRESTEvent decodes AWS's documented REST API proxy event
// (aws-lambda-go's fixture) through Invoke: a payload 1.0 event with the
// REST response shape.
func TestInvokeRealRESTEvent(t *testing.T) {
	payload, err := os.ReadFile("testdata/apigw-rest-request.json")
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, nil)
	out, err := env.h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(resp.Body, "no route for POST /hello/world") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	var probe map[string]any
	_ = json.Unmarshal(out, &probe)
	if _, ok := probe["cookies"]; ok {
		t.Fatalf("REST response carries the 2.0 field cookies: %s", out)
	}
}

func TestInvokeRefusesOtherPayloads(t *testing.T) {
	env := newEnv(t, nil)
	if _, err := env.h.Invoke(context.Background(), []byte(`{"Records":[]}`)); !errors.Is(err, ErrUnknownEvent) {
		t.Fatalf("kinesis-like payload: %v", err)
	}
	if _, err := env.h.Invoke(context.Background(), []byte(`not json`)); err == nil {
		t.Fatal("invalid JSON accepted")
	}
}
