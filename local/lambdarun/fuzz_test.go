package lambdarun

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func FuzzReadFunctionError(f *testing.F) {
	for _, s := range []string{
		`{"errorMessage":"boom","errorType":"customError","stackTrace":[]}`,
		`{"errorMessage":"x"}`, `plain text`, ``, `{"errorType":1}`, `null`,
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(`oops`), "Runtime.Unknown")
	f.Fuzz(func(t *testing.T, body []byte, typeHeader string) {
		req := httptest.NewRequest("POST", "/2018-06-01/runtime/invocation/x/error", bytes.NewReader(body))
		if typeHeader != "" {
			req.Header["Lambda-Runtime-Function-Error-Type"] = []string{typeHeader}
		}
		fe := readFunctionError(req)
		if fe.Type == "" {
			t.Fatal("empty error type")
		}
		var doc map[string]any
		if err := json.Unmarshal(fe.Payload, &doc); err != nil {
			t.Fatalf("payload %q is not JSON: %v", fe.Payload, err)
		}
	})
}
