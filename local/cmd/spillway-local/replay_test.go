package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/joshdk/go-junit"

	"github.com/spillwayhq/spillway/local/localtest"
)

// TestReplay runs `spillway-local replay` as a CI job would, against one
// local cloud started with the sample .tfvars and attached through its
// state dir: the sample config over the 10k corpus passes; a config with a
// broken parser regexp fails the unmatched-line expectation with exit
// status 1 and a message naming the parser. Both JUnit files are read back
// with a JUnit consumer.
func TestReplay(t *testing.T) {
	td := filepath.Join("..", "..", "replay", "testdata")
	tfvars, err := filepath.Abs(filepath.Join(td, "replay.tfvars"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(tfvarsEnv, "-var-file="+tfvars)
	t0 := time.Now()
	c := localtest.Start(t)
	t.Logf("local cloud up in %s", time.Since(t0).Round(time.Second))
	if got := c.Functions["ingest"].Env["SPILLWAY_LOG_LEVEL"]; got != "info" {
		t.Errorf("ingest SPILLWAY_LOG_LEVEL = %q, want info from %s", got, tfvars)
	}
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, "env"), []byte(exportLines(c)), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
		failed   int
	}{
		{name: "sample config passes",
			args:    []string{"-forwarder-config", filepath.Join(td, "forwarder.yaml"), "-expect", filepath.Join(td, "expect.yaml")},
			wantOut: []string{"web|", "access|", "10000|", "PASS: "}},
		{name: "broken regexp fails",
			args: []string{"-forwarder-config", filepath.Join(td, "forwarder-broken.yaml"), "-expect", filepath.Join(td, "expect-broken.yaml"),
				"-logs", filepath.Join("..", "..", "..", "forwarder", "agent", "testdata", "apache_combined_100.log")},
			wantCode: exitExpectationsFailed, failed: 1,
			wantOut: []string{
				`FAIL web.broken unmatched lines: unmatched-line ratio 1.0000 (100 of 100 records hold "unmatched_line"), want at most 0.01: the parser did not match these lines; check the parse settings (expression, format) of the source tagged td.web.broken`,
				`{"time":`, "FAIL: 1 of "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			junitPath := filepath.Join(t.TempDir(), "replay.xml")
			args := append([]string{"replay", "-state-dir", state, "-work-dir", t.TempDir(), "-junit", junitPath}, tc.args...)
			var stdout, stderr bytes.Buffer
			start := time.Now()
			err := run(args, &stdout, &stderr)
			t.Logf("replay took %s; stdout:\n%s", time.Since(start).Round(100*time.Millisecond), stdout.String())
			code := 0
			if err != nil {
				var ee *exitError
				if !errors.As(err, &ee) {
					t.Fatalf("error without exit status: %v\nstderr:\n%s", err, stderr.String())
				}
				code = ee.code
			}
			if code != tc.wantCode {
				t.Fatalf("exit status %d (%v), want %d\nstderr:\n%s", code, err, tc.wantCode, stderr.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("report lacks %q", w)
				}
			}
			suites, err := junit.IngestFile(junitPath)
			if err != nil {
				t.Fatalf("read junit: %v", err)
			}
			if len(suites) != 1 || suites[0].Totals.Failed != tc.failed || suites[0].Totals.Tests == 0 {
				t.Errorf("junit: %+v", suites)
			}
		})
	}
}
