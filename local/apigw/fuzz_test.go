package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"statusCode":200,"body":"ok"}`,
		`{"statusCode":200,"body":"AAEC","isBase64Encoded":true,"cookies":["a=1"],"multiValueHeaders":{"x":["1","2"]}}`,
		`{"hello":"world"}`, `"str"`, `null`, `[1,2]`, `{"statusCode":"x"}`, `not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { checkDecoded(t, DecodeResponse, payload) })
}

// checkDecoded checks what a front accepts from a function: a status API
// Gateway sends and, when marked so, a base64 body.
func checkDecoded(t *testing.T, decode func([]byte) (events.APIGatewayV2HTTPResponse, error), payload []byte) {
	resp, err := decode(payload)
	if err != nil {
		return
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		t.Fatalf("accepted status %d", resp.StatusCode)
	}
	if resp.IsBase64Encoded {
		if _, err := base64.StdEncoding.DecodeString(resp.Body); err != nil {
			t.Fatalf("accepted bad base64 body: %v", err)
		}
	}
}

func FuzzRouteKey(f *testing.F) {
	for _, s := range []string{"$default", "GET /", "PUT /v3/table/import/{db}/{table}/{format}", "ANY /{proxy+}", "POST /{a}/{a}", "GET /a//b"} {
		f.Add(s, "/v3/table/import/a/b/c")
	}
	f.Fuzz(func(t *testing.T, key, path string) {
		rt, err := parseRoute(key)
		if err != nil {
			return
		}
		params, err := rt.match("GET", path)
		if err != nil {
			return
		}
		for _, s := range rt.segs {
			if s.kind != segLiteral {
				if _, ok := params[s.text]; !ok {
					t.Fatalf("route %q matched %q without parameter %s", key, path, s.text)
				}
			}
		}
	})
}

// FuzzDecodeRESTResponse: what a REST API front accepts from a function is
// a status API Gateway sends and, when marked so, a base64 body.
func FuzzDecodeRESTResponse(f *testing.F) {
	for _, s := range []string{
		`{"statusCode":200,"body":"ok"}`, `{"statusCode":201,"body":"aGk=","isBase64Encoded":true}`,
		`{"body":"x"}`, `{"statusCode":"200"}`, `{"statusCode":99}`, `"str"`, `null`, `not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) { checkDecoded(t, DecodeRESTResponse, payload) })
}

// FuzzRESTEvent builds REST API events for arbitrary bodies, Content-Types
// and paths: with binaryMediaTypes */* the body always arrives base64 and
// byte for byte, and the event's path is the request path without the
// stage.
func FuzzRESTEvent(f *testing.F) {
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00, 0xff}, "application/json", "td.db.t")
	f.Add([]byte("plain"), "", "v3/table/import/db/t/msgpack.gz")
	f.Add([]byte{}, "text/plain; charset=utf-8", "a%2Fb")
	g, err := New(restConfig(func(context.Context, []byte) ([]byte, error) { return nil, nil }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType, rest string) {
		req, err := http.NewRequest(http.MethodPost, "http://h/ingest/"+rest, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", contentType)
		p, ok := g.restPath(req.URL.EscapedPath())
		if !ok {
			t.Fatalf("path %q lost its stage", req.URL.EscapedPath())
		}
		ev := g.BuildRESTEvent(req, body, "/{proxy+}", req.Method, req.URL.Path[len("/ingest"):], nil, time.Unix(0, 0), "id")
		if len(body) > 0 {
			got, err := base64.StdEncoding.DecodeString(ev.Body)
			if !ev.IsBase64Encoded || err != nil || !bytes.Equal(got, body) {
				t.Fatalf("body %q arrived as %q (base64 %v)", body, ev.Body, ev.IsBase64Encoded)
			}
		}
		if _, err := MarshalRESTEvent(ev); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p, "/") {
			t.Fatalf("resource path %q", p)
		}
	})
}
