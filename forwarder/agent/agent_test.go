package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/internal/tdtest"
)

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a condition with a deadline
	}
}

func get(tb testing.TB, url string) string {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// TestAgentEndToEnd runs tail (apache2) and the http source into the buffer
// and out to a TD import receiver, then checks the monitor endpoint.
func TestAgentEndToEnd(t *testing.T) {
	dir := t.TempDir()
	recv := tdtest.NewTest(t, tdtest.Config{APIKey: "k", AutoCreate: true})
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	corpus, err := os.ReadFile(filepath.Join("testdata", "apache_combined_100.log"))
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "access.log")
	if err := os.WriteFile(logPath, corpus, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(fmt.Appendf(nil, `
state_dir: %s
sources:
  tail:
    - name: web
      path: [%q]
      tag: td.web.access
      read_from_head: true
      parse: {type: apache2}
  http: {addr: "127.0.0.1:0"}
buffer: {flush_interval: 1h}
output:
  primary: {url: %q, api_key: k}
monitor: {addr: "127.0.0.1:0"}
`, dir, logPath, srv.URL))
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
	httpAddr, _, monAddr := a.Addrs()

	resp, err := http.Post("http://"+httpAddr+"/td.app.events", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Post("http://"+httpAddr+"/app.access", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST /app.access: %d, want 400 (no route accepts the tag)", resp.StatusCode)
	}
	lines := strings.Count(string(corpus), "\n")
	waitFor(t, "tail lines read", func() bool {
		return strings.Contains(get(t, "http://"+monAddr+"/metrics"), fmt.Sprintf(`spillway_forwarder_tail_lines_total{source="web"} %d`, lines))
	})
	waitFor(t, "every record in the buffer", func() bool {
		return strings.Contains(get(t, "http://"+monAddr+"/metrics"), fmt.Sprintf("spillway_forwarder_buffer_appended_records_total %d", lines+1))
	})
	a.SealNow() // SIGUSR1
	waitFor(t, "records at the receiver", func() bool { return recv.Stats().Records == lines+1 })

	var pj struct {
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(get(t, "http://"+monAddr+"/api/plugins.json")), &pj); err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, p := range pj.Plugins {
		types[p["type"].(string)] = true
		if p["type"] == "tdlog" && (p["output_plugin"] != true || p["retry_count"] == nil || p["buffer_queue_length"] == nil) {
			t.Errorf("tdlog plugin entry %v", p)
		}
	}
	if !types["tail"] || !types["http"] || !types["tdlog"] {
		t.Fatalf("plugins %v", pj.Plugins)
	}
	waitFor(t, "output counters", func() bool {
		return strings.Contains(get(t, "http://"+monAddr+"/metrics"), fmt.Sprintf(`spillway_forwarder_output_records_total %d`, lines+1))
	})
	// The tail publishes its files at the end of a poll, after saving its
	// positions (an fsync that can outlast the shipping on a loaded disk).
	lag := `spillway_forwarder_tail_file_lag_bytes{path=` + fmt.Sprintf("%q", logPath) + `,source="web"} 0`
	waitFor(t, "the tail's file lag", func() bool { return strings.Contains(get(t, "http://"+monAddr+"/metrics"), lag) })
	m := get(t, "http://"+monAddr+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`spillway_forwarder_output_records_total %d`, lines+1),
		lag,
		`spillway_forwarder_buffer_chunks{state="sealed"} 0`,
		`spillway_forwarder_http_unroutable_requests_total 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
	recs := recv.AllRecords()
	hosts := 0
	for _, r := range recs {
		if _, ok := r["host"]; ok {
			hosts++
		}
	}
	if hosts != lines {
		t.Fatalf("%d of %d tailed records have a host field", hosts, lines)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
