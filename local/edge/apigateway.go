package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// API Gateway's CreateRestApi binaryMediaTypes, which moto drops.
//
// CreateRestApi takes binaryMediaTypes, "the list of binary media types
// supported by the RestApi" (https://docs.aws.amazon.com/apigateway/latest/api/API_CreateRestApi.html),
// and a REST API created with them has them. moto 5.2 ignores the field at
// create (it keeps types only from UpdateRestApi's add operation), so
// Terraform's aws_api_gateway_rest_api with binary_media_types never
// converges and the deployed API would not say which bodies reach the
// function base64-encoded. The edge forwards the create, then adds each type
// with UpdateRestApi (op add, path /binaryMediaTypes/<type, "/" as "~1">, as
// AWS's PATCH operations address list items) and answers with the API as
// GetRestApi then reports it, under the create's status.

// isCreateRestAPI reports whether the call is API Gateway's CreateRestApi.
func isCreateRestAPI(r *http.Request, c Call) bool {
	return c.Service == "apigateway" && r.Method == http.MethodPost && strings.TrimRight(r.URL.Path, "/") == "/restapis"
}

// serveCreateRestAPI creates the REST API and sets its binaryMediaTypes.
func (s *Server) serveCreateRestAPI(w http.ResponseWriter, r *http.Request, c Call) {
	body, ok := bufferBody(w, r, c, "CreateRestApi", "BadRequestException")
	if !ok {
		return
	}
	var in struct {
		BinaryMediaTypes []string `json:"binaryMediaTypes"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.BinaryMediaTypes) == 0 {
		s.proxyFor(c).ServeHTTP(w, r) // nothing moto would drop
		return
	}
	status, created, err := s.backendCall(r.Context(), r, c, http.MethodPost, "/restapis", jsonContent, body)
	if err != nil || status/100 != 2 {
		s.log.Warn("create rest api: forwarding the answer as is", "status", status, "err", err)
		writeBackendAnswer(w, status, created, err)
		return
	}
	var api struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(created, &api); err != nil || api.ID == "" {
		writeBackendAnswer(w, status, created, nil)
		return
	}
	type patchOp struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value string `json:"value"`
	}
	ops := make([]patchOp, 0, len(in.BinaryMediaTypes))
	for _, t := range in.BinaryMediaTypes {
		ops = append(ops, patchOp{Op: "add", Path: "/binaryMediaTypes/" + strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"), Value: t})
	}
	patch, _ := json.Marshal(map[string]any{"patchOperations": ops})
	pst, patched, err := s.backendCall(r.Context(), r, c, http.MethodPatch, "/restapis/"+api.ID, jsonContent, patch)
	if err != nil || pst/100 != 2 {
		s.log.Warn("create rest api: setting binaryMediaTypes failed", "api", api.ID, "status", pst, "err", err)
		writeBackendAnswer(w, status, created, nil)
		return
	}
	writeBackendAnswer(w, status, patched, nil)
}

// bufferBody reads the request body (at most maxBufferedBody) and puts it
// back for forwarding; on failure it answers 413 with the service's error
// code and returns false.
func bufferBody(w http.ResponseWriter, r *http.Request, c Call, op, code string) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody+1))
	if err != nil || len(body) > maxBufferedBody {
		writeAWSError(w, r, c, http.StatusRequestEntityTooLarge, code, "spillway edge: "+op+" body unreadable or too large")
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return body, true
}

// backendCall sends a request to the backend with headers hdr, signed as
// orig (moto reads account and region from the credential scope), and
// returns its status and body.
func (s *Server) backendCall(ctx context.Context, orig *http.Request, c Call, method, path string, hdr map[string]string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(s.backendFor(c).String(), "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := orig.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBufferedBody))
	if err != nil {
		return 0, nil, fmt.Errorf("read %s %s answer: %w", method, path, err)
	}
	return resp.StatusCode, raw, nil
}

// jsonContent is the header of a REST-JSON request body.
var jsonContent = map[string]string{"Content-Type": "application/json"}

// writeBackendAnswer writes a buffered backend answer, or a 502 when the
// backend could not be reached.
func writeBackendAnswer(w http.ResponseWriter, status int, body []byte, err error) {
	if err != nil {
		status, body = http.StatusBadGateway, []byte(`{"message":"spillway edge: backend unreachable"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
