package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"

	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/internal/tdtest"
)

// startAgent parses the YAML (with %[1]s the state directory and %[2]s the
// receiver's URL), starts the agent, and stops it at cleanup.
func startAgent(tb testing.TB, yamlFmt string, recv *tdtest.Server) *Agent {
	tb.Helper()
	srv := httptest.NewServer(recv)
	tb.Cleanup(srv.Close)
	cfg, err := config.Parse(fmt.Appendf(nil, yamlFmt, tb.TempDir(), srv.URL))
	if err != nil {
		tb.Fatal(err)
	}
	a, err := New(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return a
}

// fluentLogger connects a fluent-logger-golang client asking for acks.
func fluentLogger(tb testing.TB, addr string) *fluent.Fluent {
	tb.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	l, err := fluent.New(fluent.Config{FluentHost: h, FluentPort: port, RequestAck: true,
		Timeout: 5 * time.Second, WriteTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, MaxRetry: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// TestRouting sends application tags through the forward source (the real
// fluent-logger-golang client) and the http source: a route stores them in
// its table, tdlog's rule names the table from the tag, the default table
// takes what no route accepts, and without it they are refused (no ack,
// 400) and counted.
func TestRouting(t *testing.T) {
	tests := []struct {
		name, routes string
		tag          string
		db, table    string // "" = refused
	}{
		{"route names the table", `routes: [{match: "app.access", db: weblogs, table: access_log}]`, "app.access", "weblogs", "access_log"},
		{"tdlog rule", `routes: [{match: "app.**"}]`, "app.Web-Access", "app", "web_access"},
		{"braces", `routes: [{match: "{web,app}.*", db: weblogs, table: all}]`, "web.error", "weblogs", "all"},
		{"no route", `routes: [{match: "web.**"}]`, "app.access", "", ""},
		{"no routes at all", ``, "app.access", "", ""},
		{"default table", "routes: [{match: \"web.**\"}]\ndefault_table: misc.unrouted", "app.access", "misc", "unrouted"},
		{"default table without routes", `default_table: misc.unrouted`, "app.access", "misc", "unrouted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recv := tdtest.NewTest(t, tdtest.Config{APIKey: "k", AutoCreate: true})
			a := startAgent(t, `
state_dir: %[1]s
sources:
  http: {addr: "127.0.0.1:0"}
  forward: {addr: "127.0.0.1:0"}
buffer: {flush_interval: 1h}
output:
  primary: {url: %[2]q, api_key: k}
monitor: {addr: "127.0.0.1:0"}
`+tt.routes+"\n", recv)
			httpAddr, fwdAddr, monAddr := a.Addrs()
			l := fluentLogger(t, fwdAddr)
			const n = 10
			for i := range n {
				err := l.PostWithTime(tt.tag, time.Unix(1700000000+int64(i), 0), map[string]any{"i": i})
				if tt.db == "" && err == nil {
					t.Fatalf("post %d of %s: acked, want an error (no ack)", i, tt.tag)
				}
				if tt.db != "" && err != nil {
					t.Fatalf("post %d of %s: %v", i, tt.tag, err)
				}
			}
			resp, err := http.Post("http://"+httpAddr+"/"+tt.tag, "application/json", strings.NewReader(`{"i":-1}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := map[bool]int{true: 400, false: 200}[tt.db == ""]; resp.StatusCode != want {
				t.Fatalf("POST /%s: %d, want %d", tt.tag, resp.StatusCode, want)
			}
			m := get(t, "http://"+monAddr+"/metrics")
			if tt.db == "" {
				for _, want := range []string{
					fmt.Sprintf("spillway_forwarder_forward_unroutable_records_total %d", n),
					"spillway_forwarder_http_unroutable_requests_total 1",
					"spillway_forwarder_buffer_appended_records_total 0",
				} {
					if !strings.Contains(m, want) {
						t.Errorf("metrics lack %q", want)
					}
				}
				return
			}
			a.SealNow()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := recv.WaitCount(ctx, tt.db, tt.table, n+1); err != nil {
				t.Fatalf("%s.%s: %v (tables %+v)", tt.db, tt.table, err, recv.Tables())
			}
			if got := recv.Stats().Records; got != n+1 {
				t.Fatalf("receiver holds %d records, want %d", got, n+1)
			}
		})
	}
}

// TestTailTagFromPath: a tail tag with "*" expands from the file path (the
// path's "/" become "."), and tdlog's rule then takes the last two parts; a
// file whose tag no route accepts is not followed (its lines stay in the
// file, unread, and the file is counted) unless a default table is set.
func TestTailTagFromPath(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"web.access", "db.slow"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("line 1\nline 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recv := tdtest.NewTest(t, tdtest.Config{APIKey: "k", AutoCreate: true})
	a := startAgent(t, `
state_dir: %[1]s
sources:
  tail:
    - name: logs
      path: [`+strconv.Quote(filepath.Join(dir, "*"))+`]
      tag: host.*
      read_from_head: true
routes:
  - match: "host.**.web.access"
buffer: {flush_interval: 1h}
output:
  primary: {url: %[2]q, api_key: k}
monitor: {addr: "127.0.0.1:0"}
`, recv)
	_, _, monAddr := a.Addrs()
	waitFor(t, "unroutable file counted", func() bool {
		return strings.Contains(get(t, "http://"+monAddr+"/metrics"), `spillway_forwarder_tail_unroutable_files{source="logs"} 1`)
	})
	waitFor(t, "routed lines in the buffer", func() bool {
		return strings.Contains(get(t, "http://"+monAddr+"/metrics"), "spillway_forwarder_buffer_appended_records_total 2")
	})
	a.SealNow()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := recv.WaitCount(ctx, "web", "access", 2); err != nil {
		t.Fatalf("web.access: %v (tables %+v)", err, recv.Tables())
	}
	if got := recv.Stats().Records; got != 2 {
		t.Fatalf("receiver holds %d records, want 2", got)
	}
}
