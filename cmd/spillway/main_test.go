package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/cmd/spillway/internal/replay"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

// clearEnv unsets every variable the commands read, for the test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{lambdaenv.Bucket, lambdaenv.StreamName, envQueueURL, lambdaenv.TDAPIKeySecret, lambdaenv.FutureLimit, lambdaenv.APIKeysTable, envOutputs} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

func TestRunExitCodes(t *testing.T) {
	clearEnv(t)
	outputs := filepath.Join(t.TempDir(), "out.json")
	if err := os.WriteFile(outputs, []byte(`{"bucket": {"sensitive": false, "type": "string", "value": "b"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no command", nil, exitUsage, "usage: spillway"},
		{"help", []string{"help"}, exitOK, ""},
		{"unknown command", []string{"nope"}, exitUsage, `unknown command "nope"`},
		{"keys without table", []string{"keys", "list"}, exitUsage, "-table"},
		{"keys help", []string{"keys", "-h"}, exitOK, ""},
		{"replay without source", []string{"replay"}, exitUsage, "needs a source"},
		{"replay unknown source", []string{"replay", "everything"}, exitUsage, `unknown source "everything"`},
		{"replay unknown flag", []string{"replay", "records", "-nope"}, exitUsage, "-nope"},
		{"replay without bucket", []string{"replay", "records"}, exitUsage, "Bucket: required by records"},
		{"replay all names every missing setting", []string{"replay", "all", "-outputs", outputs}, exitUsage, "QueueURL: required by on-failure"},
		{"replay bad future limit", []string{"replay", "records", "-bucket", "b", "-future-limit", "0s"}, exitUsage, "FutureLimit"},
		{"missing outputs file", []string{"replay", "records", "-outputs", filepath.Join(t.TempDir(), "none.json")}, exitUsage, "read terraform outputs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.msg) {
				t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tc.code, tc.msg, stdout.String(), stderr.String())
			}
		})
	}
}

func TestExitCodeOfLeftItems(t *testing.T) {
	if got := exitCode(errLeft, io.Discard); got != exitFailed {
		t.Fatalf("left items exit %d, want %d", got, exitFailed)
	}
	if got := exitCode(errors.New("boom"), io.Discard); got != exitFailed {
		t.Fatalf("error exit %d, want %d", got, exitFailed)
	}
}

func TestReadOutputs(t *testing.T) {
	// What `terraform output -json` prints for the module's outputs (and a
	// null one: dashboard_name when disabled).
	doc := `{
  "bucket": {"sensitive": false, "type": "string", "value": "spw-data"},
  "stream_name": {"sensitive": false, "type": "string", "value": "spw-events"},
  "on_failure_queue_url": {"sensitive": false, "type": "string", "value": "https://sqs.us-east-1.amazonaws.com/1/spw-fanout-failures"},
  "td_apikey_secret_arn": {"sensitive": false, "type": "string", "value": "arn:aws:secretsmanager:us-east-1:1:secret:spw-td"},
  "apikeys_table": {"sensitive": false, "type": "string", "value": "spw-apikeys"},
  "dashboard_name": {"sensitive": false, "type": "string", "value": null},
  "function_names": {"sensitive": false, "type": ["object", {"ingest": "string"}], "value": {"ingest": "spw-ingest"}}
}`
	path := filepath.Join(t.TempDir(), "outputs.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readOutputs(path)
	want := outputs{Bucket: "spw-data", StreamName: "spw-events", QueueURL: "https://sqs.us-east-1.amazonaws.com/1/spw-fanout-failures",
		TDAPIKeySecret: "arn:aws:secretsmanager:us-east-1:1:secret:spw-td", APIKeysTable: "spw-apikeys"}
	if err != nil || got != want {
		t.Fatalf("readOutputs = %+v, %v; want %+v", got, err, want)
	}
}

func TestParseInterleaved(t *testing.T) {
	cases := []struct {
		args    []string
		sources []string
		dry     bool
		bucket  string
	}{
		{[]string{"records"}, []string{"records"}, false, ""},
		{[]string{"-dry-run", "records", "future"}, []string{"records", "future"}, true, ""},
		{[]string{"records", "--dry-run", "-bucket", "b", "failed"}, []string{"records", "failed"}, true, "b"},
		{[]string{"all", "-bucket=b"}, []string{"all"}, false, "b"},
	}
	for _, tc := range cases {
		cfg := replay.DefaultConfig()
		fs, _ := newReplayFlags(&cfg, io.Discard)
		got, err := parseInterleaved(fs, tc.args)
		if err != nil || strings.Join(got, ",") != strings.Join(tc.sources, ",") || cfg.DryRun != tc.dry || cfg.Bucket != tc.bucket {
			t.Errorf("%v: sources %v dry %v bucket %q err %v", tc.args, got, cfg.DryRun, cfg.Bucket, err)
		}
	}
}
