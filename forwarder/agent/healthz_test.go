package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/forwarder/config"
)

// getHealth GETs /healthz and decodes its answer.
func getHealth(tb testing.TB, url string) (int, health) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, h
}

// TestHealthz: ready while the output ships nothing because nothing is
// queued; degraded (503, reason) once a chunk waits longer than
// degraded_after at an endpoint that does not answer.
func TestHealthz(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there: every ship attempt fails
	cfg, err := config.Parse(fmt.Appendf(nil, `
state_dir: %s
sources:
  http: {addr: "127.0.0.1:0"}
buffer: {flush_interval: 1h}
output:
  primary: {url: "http://%s", api_key: k}
  min_backoff: 10ms
  max_backoff: 400ms # under 200ms tdimport.RetryPolicy.Backoff panics (rand.N of a negative: reported)
monitor: {addr: "127.0.0.1:0", degraded_after: 300ms}
shutdown_timeout: 100ms
`, t.TempDir(), dead))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	httpAddr, _, monAddr := a.Addrs()
	url := "http://" + monAddr + "/healthz"
	waitFor(t, "ready", func() bool { code, h := getHealth(t, url); return code == 200 && h.Status == "ready" })

	resp, err := http.Post("http://"+httpAddr+"/td.app.events", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a.SealNow()
	waitFor(t, "degraded", func() bool {
		code, h := getHealth(t, url)
		return code == http.StatusServiceUnavailable && h.Status == "degraded" && strings.Contains(h.Reason, "nothing shipped")
	})
}
