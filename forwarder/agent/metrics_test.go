package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/internal/tdtest"
)

// scrape GETs url and parses it with Prometheus' strict text parser; a
// scrape it cannot parse fails the test.
func scrape(tb testing.TB, url string) map[string]*dto.MetricFamily {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("scrape of %s is not valid Prometheus text: %v", url, err)
	}
	return fams
}

// sample returns the value of the sample of family name whose labels
// include want, and whether there is one.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsOddFileNames tails files whose names hold a tab, a quote, a
// backslash, a newline and a byte that is not UTF-8: the whole scrape must
// stay valid for a strict parser and name every file.
func TestMetricsOddFileNames(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []struct{ file, label string }{
		{"tab\there.log", "tab\there.log"},
		{"quote\"back\\slash.log", "quote\"back\\slash.log"},
		{"new\nline.log", "new\nline.log"},
		{"caf\xe9.log", "caf\uFFFD.log"}, // Latin-1 e-acute: shown with U+FFFD
		{"café.log", "café.log"},
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(logs, n.file), []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recv := tdtest.NewTest(t, tdtest.Config{APIKey: "k", AutoCreate: true})
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	cfg, err := config.Parse(fmt.Appendf(nil, `
state_dir: %s
sources:
  tail:
    - name: odd
      path: [%q]
      tag: td.web.odd
      read_from_head: true
      poll_interval: 20ms
      refresh_interval: 50ms
      parse: {type: none}
  http: {addr: "127.0.0.1:0"}
  forward: {addr: "127.0.0.1:0"}
buffer: {flush_interval: 1h}
output:
  primary: {url: %q, api_key: k}
monitor: {addr: "127.0.0.1:0"}
`, dir, filepath.Join(logs, "*"), srv.URL))
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	httpAddr, _, monAddr := a.Addrs()
	for _, p := range []struct{ tag, body string }{
		{"td.app.events", `{"a":1}`}, // accepted
		{"app.access", `{"a":1}`},    // unroutable
		{"td.app.events", `{"a":`},   // refused: bad JSON
	} {
		resp, err := http.Post("http://"+httpAddr+"/"+p.tag, "application/json", strings.NewReader(p.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	url := "http://" + monAddr + "/metrics"
	waitFor(t, "every file read and listed", func() bool {
		fams := scrape(t, url)
		v, _ := sample(fams, "spillway_forwarder_tail_lines_total", map[string]string{"source": "odd"})
		return int(v) == len(names) && len(fams["spillway_forwarder_tail_file_lag_bytes"].GetMetric()) == len(names)
	})
	fams := scrape(t, url)
	for _, n := range names {
		if _, ok := sample(fams, "spillway_forwarder_tail_file_lag_bytes", map[string]string{"source": "odd", "path": filepath.Join(logs, n.label)}); !ok {
			t.Errorf("no lag sample for %q in %v", n.label, fams["spillway_forwarder_tail_file_lag_bytes"])
		}
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"spillway_forwarder_input_accepted_records_total", map[string]string{"input": "http"}, 1},
		{"spillway_forwarder_input_refused_total", map[string]string{"input": "http"}, 1},
		{"spillway_forwarder_input_unroutable_total", map[string]string{"input": "http"}, 1},
		{"spillway_forwarder_input_accepted_records_total", map[string]string{"input": "forward"}, 0},
		{"spillway_forwarder_http_unroutable_requests_total", nil, 1},
		{"spillway_forwarder_forward_unroutable_records_total", nil, 0},
		{"spillway_forwarder_buffer_chunks", map[string]string{"state": "sealed"}, 0},
		{"spillway_forwarder_build_info", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sample(fams, tt.name, tt.labels)
			if !ok || got != tt.want {
				t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
			}
		})
	}
	bi := fams["spillway_forwarder_build_info"]
	if bi == nil || len(bi.GetMetric()) != 1 {
		t.Fatalf("build_info: %v", bi)
	}
	for _, l := range []string{"version", "revision", "goversion"} {
		found := false
		for _, lp := range bi.GetMetric()[0].GetLabel() {
			found = found || (lp.GetName() == l && lp.GetValue() != "")
		}
		if !found {
			t.Errorf("build_info lacks a %s label", l)
		}
	}
}
