package agent

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/internal/tdtest"
)

// TestSeveralOutputs: routes select named outputs, one or several (copy);
// each output ships its own buffer to its own endpoint, and a tail file on a
// copy route reaches both.
func TestSeveralOutputs(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logPath, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	main := tdtest.NewTest(t, tdtest.Config{APIKey: "k", AutoCreate: true})
	archive := tdtest.NewTest(t, tdtest.Config{APIKey: "k2", AutoCreate: true})
	archiveSrv := httptest.NewServer(archive)
	t.Cleanup(archiveSrv.Close)
	a := startAgent(t, `
state_dir: %[1]s
sources:
  forward: {addr: "127.0.0.1:0"}
  tail:
    - name: app
      path: [`+strconv.Quote(logPath)+`]
      tag: app.file
      read_from_head: true
routes:
  - match: "app.**"
    output: [default, archive]
  - match: "web.**"
    output: archive
buffer: {flush_interval: 1h}
output:
  primary: {url: %[2]q, api_key: k}
outputs:
  - name: archive
    primary: {url: `+strconv.Quote(archiveSrv.URL)+`, api_key: k2}
    compression: gzip
monitor: {addr: "127.0.0.1:0"}
`, main)
	_, fwdAddr, _ := a.Addrs()
	l := fluentLogger(t, fwdAddr)
	for i := range 5 {
		for _, tag := range []string{"app.access", "web.access"} {
			if err := l.PostWithTime(tag, time.Unix(1700000000+int64(i), 0), map[string]any{"i": i}); err != nil {
				t.Fatalf("post %s: %v", tag, err)
			}
		}
	}
	waitFor(t, "records in both buffers", func() bool {
		return a.outbounds[0].buf.Stats().AppendedRecs == 8 && a.outbounds[1].buf.Stats().AppendedRecs == 13
	})
	a.SealNow()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, w := range []struct {
		recv      *tdtest.Server
		db, table string
		n         int
	}{
		{main, "app", "access", 5}, {main, "app", "file", 3},
		{archive, "app", "access", 5}, {archive, "app", "file", 3}, {archive, "web", "access", 5},
	} {
		if err := w.recv.WaitCount(ctx, w.db, w.table, w.n); err != nil {
			t.Fatalf("%s.%s: %v (tables %+v)", w.db, w.table, err, w.recv.Tables())
		}
	}
	if n, m := main.Stats().Records, archive.Stats().Records; n != 8 || m != 13 {
		t.Fatalf("main holds %d records (want 8), archive %d (want 13)", n, m)
	}
	if d := main.Duplicates() + archive.Duplicates(); d != 0 {
		t.Fatalf("%d duplicates", d)
	}
	_, _, monAddr := a.Addrs()
	// The output counts a chunk once the endpoint's answer is read: after
	// the receiver has it.
	waitFor(t, "shipped records in /metrics", func() bool {
		fams := scrape(t, "http://"+monAddr+"/metrics")
		v, _ := sample(fams, "spillway_forwarder_named_output_records_total", map[string]string{"output": "archive"})
		w, _ := sample(fams, "spillway_forwarder_output_records_total", nil)
		return v == 13 && w == 8
	})
	fams := scrape(t, "http://"+monAddr+"/metrics")
	for _, w := range []struct {
		name string
		want float64
	}{
		{"spillway_forwarder_output_records_total", 8},
		{"spillway_forwarder_named_output_records_total", 13},
		{"spillway_forwarder_named_buffer_appended_records_total", 13},
	} {
		labels := map[string]string{}
		if strings.Contains(w.name, "named") {
			labels["output"] = "archive"
		}
		if v, ok := sample(fams, w.name, labels); !ok || v != w.want {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, labels, v, ok, w.want)
		}
	}
	for _, d := range []string{"buffer", "buffer-archive"} {
		if _, err := os.Stat(filepath.Join(a.cfg.StateDir, d)); err != nil {
			t.Errorf("buffer directory %s: %v", d, err)
		}
	}
}

// TestCheckNamedOutputs: --check reads every outputs[] entry's key file and
// environment variable, and its buffer directory.
func TestCheckNamedOutputs(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(fmt.Appendf(nil, `
state_dir: %[1]s
sources:
  http: {addr: "127.0.0.1:0"}
output:
  primary: {url: "http://127.0.0.1:1", api_key: k}
outputs:
  - name: archive
    primary: {url: "http://127.0.0.1:1", api_key_file: %[1]s/nokey}
    standby: {url: "http://127.0.0.1:1", api_key_env: SPILLWAY_TEST_UNSET_KEY}
routes:
  - match: "**"
    output: archive
monitor: {disabled: true}
`, dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SPILLWAY_TEST_UNSET_KEY", "")
	err = Check(cfg)
	if err == nil {
		t.Fatal("no problem found")
	}
	for _, want := range []string{"outputs[0].primary.api_key_file", "outputs[0].standby.api_key_env: environment variable SPILLWAY_TEST_UNSET_KEY"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "buffer-archive")); err != nil {
		t.Errorf("buffer-archive not checked: %v", err)
	}
}
