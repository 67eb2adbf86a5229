package apigw

import (
	"encoding/base64"
	"testing"
)

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"statusCode":200,"body":"ok"}`,
		`{"statusCode":200,"body":"AAEC","isBase64Encoded":true,"cookies":["a=1"],"multiValueHeaders":{"x":["1","2"]}}`,
		`{"hello":"world"}`, `"str"`, `null`, `[1,2]`, `{"statusCode":"x"}`, `not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		resp, err := DecodeResponse(payload)
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
	})
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
