package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/internal/tdtest"
)

// TestCutoverFromTdAgent is the migration guide's cut-over as a user runs
// it: td-agent stopped mid-file, its configuration converted with
// "spillway-forwarder convert", checked, and the forwarder started on it.
// Exactly the lines after td-agent's position must arrive, once each, and
// td-agent's position file must be byte-identical afterwards (rollback).
func TestCutoverFromTdAgent(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	recv := tdtest.NewTest(t, tdtest.Config{APIKey: "k", AutoCreate: true})
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)

	logPath := filepath.Join(dir, "access.log")
	var lines bytes.Buffer
	line := func(i int) string { return fmt.Sprintf("line-%04d %s", i, strings.Repeat("z", i%30)) }
	var mid int
	for i := 0; i < 100; i++ {
		if i == 60 {
			mid = lines.Len()
		}
		lines.WriteString(line(i) + "\n")
	}
	if err := os.WriteFile(logPath, lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	tdPos := filepath.Join(dir, "td-agent", "access.pos")
	if err := os.MkdirAll(filepath.Dir(tdPos), 0o755); err != nil {
		t.Fatal(err)
	}
	posData := []byte(fmt.Sprintf("%s\t%016x\t%016x\n", logPath, mid, ino))
	if err := os.WriteFile(tdPos, posData, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`<source>
  @type tail
  path %s
  pos_file %s
  tag td.db1.app
  <parse>
    @type none
  </parse>
</source>
<match td.*.*>
  @type tdlog
  endpoint %s
  use_ssl false
  apikey k
  auto_create_table
  <buffer>
    @type file
    path %s
  </buffer>
</match>
`, logPath, tdPos, strings.TrimPrefix(srv.URL, "http://"), filepath.Join(dir, "td-agent", "buffer", "td"))
	confPath := filepath.Join(dir, "td-agent.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	yamlPath := filepath.Join(dir, "forwarder.yaml")
	out, err := exec.Command(bin, "convert", "-o", yamlPath, confPath).CombinedOutput()
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, out)
	}
	// Local paths for the test (the converted file sets none of these keys).
	f, err := os.OpenFile(yamlPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "state_dir: %s\nlog: {file: %s}\nmonitor: {addr: \"127.0.0.1:0\"}\n", filepath.Join(dir, "state"), filepath.Join(dir, "forwarder.log"))
	f.Close()
	if out, err := exec.Command(bin, "-config", yamlPath, "--check").CombinedOutput(); err != nil {
		t.Fatalf("--check: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "-config", yamlPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ownPos := filepath.Join(dir, "state", "pos", "td.db1.app.json")
	want := fmt.Sprintf(`"offset": %d`, lines.Len())
	waitFor(t, 20*time.Second, "the file read to its end", func() bool {
		b, err := os.ReadFile(ownPos)
		return err == nil && strings.Contains(string(b), want)
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "forwarder.log"))
		t.Fatalf("stop: %v\n%s", err, log)
	}

	seen := map[string]int{}
	for _, rec := range recv.Records("db1", "app") {
		m, _ := rec["message"].(string)
		seen[m]++
	}
	for i := 0; i < 100; i++ {
		n := seen[line(i)]
		if i < 60 && n != 0 || i >= 60 && n != 1 {
			t.Errorf("line %d received %d times", i, n)
		}
	}
	if len(seen) != 40 {
		t.Errorf("%d distinct lines received, want 40", len(seen))
	}
	got, err := os.ReadFile(tdPos)
	if err != nil || !bytes.Equal(got, posData) {
		t.Errorf("td-agent position file changed: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "td-agent", "buffer")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("td-agent's buffer path was touched: %v", err)
	}
}
