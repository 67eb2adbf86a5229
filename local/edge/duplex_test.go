package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestProxyFullDuplex: the edge keeps forwarding a request body while the
// backend's response is already on its way. Go's HTTP/1 server otherwise
// consumes and closes what is left of an inbound body when the handler
// starts its response, while ReverseProxy's transport is still reading it
// for the backend: the transport's write fails, it closes the backend
// connection, and the response body copy ends with "use of closed network
// connection" (golang/go#40747; the client sees a truncated response).
// Under load, AWS SDK calls hit that race when the backend's headers
// arrive before the transport has read the body's end.
//
// Here the race is made certain: the backend answers after the first part
// of the body, and the client sends the rest only once it has the
// response headers. The backend is a plain Go server, not moto, because
// moto reads every body whole before it answers.
func TestProxyFullDuplex(t *testing.T) {
	const first, rest = "first-part;", "the-rest-of-the-body"
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("backend: %v", err)
		}
		buf := make([]byte, len(first))
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Errorf("backend: read the first part: %v", err)
			return
		}
		_, _ = io.WriteString(w, "got "+string(buf)+" ")
		_ = rc.Flush()
		tail, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("backend: read the rest: %v", err)
			return
		}
		_, _ = io.WriteString(w, "then "+string(tail))
	}))
	t.Cleanup(backend.Close)
	s := startEdge(t, Config{Backend: backend.URL})

	// The deadline only ends a hang (the outcome without full duplex: the
	// edge waits for the rest of the body before it answers, the client
	// for an answer before it sends the rest).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.CloseWithError(errors.New("test over"))
	// The client's transport waits for its body write to end, even past
	// the deadline.
	stop := context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.URL()+"/bucket/key", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0")
	go func() {
		_, _ = io.WriteString(pw, first)
	}()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no response headers while the body is still open: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.WriteString(pw, rest)
	_ = pw.Close()
	body, err := io.ReadAll(resp.Body)
	if want := "got " + first + " then " + rest; err != nil || string(body) != want {
		t.Fatalf("response %q (err %v), want %q", body, err, want)
	}
	if !strings.HasPrefix(resp.Status, "200") {
		t.Errorf("status %s", resp.Status)
	}
}
