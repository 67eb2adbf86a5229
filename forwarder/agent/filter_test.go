package agent

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/internal/tdtest"
)

// TestFilters: filters from the YAML apply between the parsers and the
// buffer - record_transformer adds the host name and tag parts, removes and
// renames; grep drops records - and tail adds path_key and host_key.
func TestFilters(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logPath, []byte(`{"level":"info","msg":"a","secret":"s"}`+"\n"+`{"level":"debug","msg":"b"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	recv := tdtest.NewTest(t, tdtest.Config{APIKey: "k", AutoCreate: true})
	a := startAgent(t, `
state_dir: %[1]s
sources:
  http: {addr: "127.0.0.1:0"}
  tail:
    - name: app
      path: [`+strconv.Quote(logPath)+`]
      tag: app.file
      read_from_head: true
      path_key: source_path
      host_key: source_host
      parse: {type: json}
routes:
  - match: "app.**"
filters:
  - match: "app.**"
    grep:
      exclude: [{key: level, pattern: "^debug$"}]
  - match: "app.*"
    record_transformer:
      add: {hostname: "${hostname}", service: "${tag_parts[1]}", origin: "${tag}"}
      remove: [secret]
      rename: {msg: message}
  - match: "web.**"
    record_transformer:
      add: {never: "x"}
buffer: {flush_interval: 1h}
output:
  primary: {url: %[2]q, api_key: k}
monitor: {addr: "127.0.0.1:0"}
`, recv)
	httpAddr, _, monAddr := a.Addrs()
	resp, err := http.Post("http://"+httpAddr+"/app.web", "application/json", strings.NewReader(`[{"level":"warn","msg":"c","time":1700000000},{"level":"debug","msg":"d"}]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	waitFor(t, "kept records in the buffer", func() bool { return a.buf.Stats().AppendedRecs == 2 })
	a.SealNow()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := recv.WaitCount(ctx, "app", "file", 1); err != nil {
		t.Fatalf("app.file: %v (tables %+v)", err, recv.Tables())
	}
	if err := recv.WaitCount(ctx, "app", "web", 1); err != nil {
		t.Fatalf("app.web: %v (tables %+v)", err, recv.Tables())
	}
	if n := recv.Stats().Records; n != 2 {
		t.Fatalf("receiver holds %d records, want 2 (the debug ones dropped)", n)
	}
	clean := func(r tdtest.Record) string {
		delete(r, "time")
		return fmt.Sprint(map[string]any(r))
	}
	want := fmt.Sprint(map[string]any{"level": "info", "message": "a", "hostname": host, "service": "file", "origin": "app.file",
		"source_path": logPath, "source_host": host})
	if got := recv.Records("app", "file"); len(got) != 1 || clean(got[0]) != want {
		t.Errorf("app.file = %v, want %s", got, want)
	}
	want = fmt.Sprint(map[string]any{"level": "warn", "message": "c", "hostname": host, "service": "web", "origin": "app.web"})
	if got := recv.Records("app", "web"); len(got) != 1 || clean(got[0]) != want {
		t.Errorf("app.web = %v, want %s", got, want)
	}
	if m := get(t, "http://"+monAddr+"/metrics"); !strings.Contains(m, "spillway_forwarder_filter_dropped_records_total 2") {
		t.Errorf("metrics lack the dropped count")
	}
}
