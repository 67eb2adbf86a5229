package apigw

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestUsage: every request is counted, a 404 too, with its body bytes; a
// body over 512 KB is metered as two requests.
func TestUsage(t *testing.T) {
	gw, err := New(Config{
		Routes: []Route{{Key: "POST /in"}},
		Invoke: func(context.Context, []byte) ([]byte, error) {
			return []byte(`{"statusCode":200,"body":"ok"}`), nil
		},
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	for _, n := range []int{100, MeterBytes + 1} {
		resp, err := http.Post(srv.URL+"/in", "application/octet-stream", bytes.NewReader(make([]byte, n)))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get(srv.URL + "/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	notFound, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := Usage{Requests: 3, MeteredRequests: 1 + 2 + 1, RequestBytes: 100 + MeterBytes + 1, ResponseBytes: 2 + 2 + int64(len(notFound))}
	if got := gw.Usage(); got != want {
		t.Errorf("usage %+v, want %+v", got, want)
	}
	gw.ResetUsage()
	if got := gw.Usage(); got != (Usage{}) {
		t.Errorf("after reset: %+v", got)
	}
}
