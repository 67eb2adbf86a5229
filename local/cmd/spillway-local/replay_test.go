package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/joshdk/go-junit"

	"github.com/spillwayhq/spillway/bench/forwarder/apachegen"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/costrun"
	"github.com/spillwayhq/spillway/local/edge"
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
	// No scheduled flush runs: the cost subtest compares the functions'
	// calls over a window (replays flush on demand).
	c := localtest.Start(t, localtest.WithOptions(func(o *cloud.Options) { o.FlushPeriod = 24 * time.Hour }))
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
	t.Run("cost measurement counts what the edge counted", func(t *testing.T) { testCostMeasurement(t, c) })
}

// testCostMeasurement runs `spillway cost`'s measurement of a generated
// 300-line corpus on the running cloud and checks it against the edge's own
// counts of the functions' calls (GET /_spillway/calls?caller=test) over
// the same window, and against what it must equal by construction of the
// pipeline (one ingest invocation per API request, every line an event).
func testCostMeasurement(t *testing.T, c *cloud.Cloud) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	corpus := filepath.Join(dir, "generated.log")
	f, err := os.Create(corpus)
	if err != nil {
		t.Fatal(err)
	}
	if err := apachegen.Write(f, 300, 7); err != nil {
		t.Fatal(err)
	}
	f.Close()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	// The earlier subtests' flush runs may still be running: start from a
	// quiet pipeline.
	if err := c.Functions["flush"].Runner.WaitAsync(ctx); err != nil {
		t.Fatal(err)
	}
	before := quietCalls(t, c.EdgeURL)
	t0 := time.Now()
	m, err := costrun.Measure(ctx, c, costrun.Options{Corpus: corpus, WorkDir: filepath.Join(dir, "work"), RepoRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	if m.Live == nil || m.Backfill == nil {
		t.Fatalf("measurement without both windows: live %v, backfill %v", m.Live, m.Backfill)
	}
	for _, w := range m.Windows() {
		t.Logf("%s window measured: %d events, %d API requests, %d Kinesis records, %.1f WRU, %.1f RRU, %d sealed partitions",
			w.Name, w.Events, w.Replay.APIRequests, w.Replay.KinesisRecords, w.Replay.DynamoDBWriteUnits, w.Replay.DynamoDBReadUnits, w.SealedPartitions)
	}
	t.Logf("measured in %s", time.Since(t0).Round(time.Second))
	after := edgeCalls(t, c.EdgeURL, costrun.PipelineAccessKey)

	// The warm-up, the idle run and the two windows are contiguous:
	// together they hold every call the edge logged.
	measured := map[string]costrun.Call{}
	calls := append(append([]costrun.Call{}, m.WarmupCalls...), m.IdleFlushCalls...)
	for _, w := range m.Windows() {
		calls = append(calls, w.Calls...)
	}
	for _, cl := range calls {
		k := cl.Service + "." + cl.Operation
		// The edge's control endpoint sums resources and S3 classes away.
		cl.Resource, cl.S3Class = "", ""
		s := measured[k]
		s.Add(cl)
		measured[k] = s
	}
	logged := map[string]costrun.Call{}
	for k, a := range after {
		if d := a.Since(before[k]); d.Requests > 0 {
			logged[k] = costrun.Call{Service: d.Service, Operation: d.Operation, Requests: d.Requests, RequestBytes: d.RequestBytes,
				ResponseBytes: d.ResponseBytes, ReadUnits: d.DynamoDBReadUnits, WriteUnits: d.DynamoDBWriteUnits}
		}
	}
	if len(logged) == 0 {
		t.Fatal("the edge logged no calls of the functions")
	}
	for k, want := range logged {
		if got := measured[k]; got != want {
			t.Errorf("%s: measured %+v, the edge logged %+v", k, got, want)
		}
	}
	for k := range measured {
		if _, ok := logged[k]; !ok {
			t.Errorf("%s measured but not logged by the edge", k)
		}
	}
	if m.Lines != 300 || m.IdleFlush.Functions["flush"].Invocations != 1 {
		t.Errorf("lines %d, idle flush %+v; want 300 lines, one idle run", m.Lines, m.IdleFlush.Functions["flush"])
	}
	var cpuMs float64
	for _, w := range m.Windows() {
		if w.Events != 300 || w.Tables != 1 {
			t.Errorf("%s: events %d, tables %d; want 300, 1", w.Name, w.Events, w.Tables)
		}
		if ingest := w.Replay.Functions["ingest"].Invocations; ingest != w.Replay.APIRequests || ingest == 0 {
			t.Errorf("%s: ingest invocations %d, API requests %d: want equal, not 0", w.Name, ingest, w.Replay.APIRequests)
		}
		var puts int64
		for _, cl := range w.Calls {
			if cl.Service == "kinesis" && cl.Operation == "PutRecords" {
				puts = cl.Requests
			}
		}
		if w.Replay.KinesisRecords < puts || puts == 0 || w.Replay.KinesisReadBytes == 0 {
			t.Errorf("%s: Kinesis: %d records in %d PutRecords, %d bytes read by the poller", w.Name, w.Replay.KinesisRecords, puts, w.Replay.KinesisReadBytes)
		}
		if w.SealedObjects == 0 || w.Replay.DynamoDBWriteUnits == 0 {
			t.Errorf("%s: sealed %d objects, %.1f WRU", w.Name, w.SealedObjects, w.Replay.DynamoDBWriteUnits)
		}
		// The calls by resource: as many data/ PUTs as the listing found
		// sealed objects (more if a run rewrote one), staged items claimed,
		// at least one seal, each sealing at least one object.
		byRes := map[string]int64{}
		for _, cl := range w.Calls {
			byRes[cl.Service+"."+cl.Operation+" "+cl.Resource] += cl.Requests
		}
		if byRes["s3.PutObject data"] < w.SealedObjects || byRes["dynamodb.UpdateItem manifests/staged"] == 0 || w.Seals < 1 || w.Seals > w.SealedObjects {
			t.Errorf("%s: %d seals of %d sealed objects; calls by resource %v", w.Name, w.Seals, w.SealedObjects, byRes)
		}
		for _, f := range w.Replay.Functions {
			cpuMs += f.CPUMs
		}
	}
	// CPU time is read in clock ticks (10 ms): one short invocation can
	// read 0 (a loaded CI run: fanout billed 60 ms, 0 ticks), every
	// function of both windows cannot.
	if cpuMs <= 0 {
		t.Errorf("the functions used no CPU time in either window")
	}
	// Live: every event timed as read lands in at most two hour partitions.
	if m.Live.SealedPartitions < 1 || m.Live.SealedPartitions > 2 {
		t.Errorf("live window sealed %d hour partitions, want 1 or 2", m.Live.SealedPartitions)
	}
}

// quietCalls returns the functions' call counts once they have not
// changed for a second (deadline 60 s).
func quietCalls(t *testing.T, edgeURL string) map[string]edge.CallCount {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := edgeCalls(t, edgeURL, costrun.PipelineAccessKey)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range tick.C {
		now := edgeCalls(t, edgeURL, costrun.PipelineAccessKey)
		if reflect.DeepEqual(now, last) {
			return now
		}
		if time.Now().After(deadline) {
			t.Fatal("the functions' calls did not settle within 60s")
		}
		last = now
	}
	return last
}

// edgeCalls reads the edge's counts of one caller's calls from its control
// endpoint, by "service.operation".
func edgeCalls(t *testing.T, edgeURL, caller string) map[string]edge.CallCount {
	t.Helper()
	resp, err := http.Get(edgeURL + "/_spillway/calls?caller=" + url.QueryEscape(caller))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []edge.CallCount
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	out := map[string]edge.CallCount{}
	for _, cl := range list {
		out[cl.Service+"."+cl.Operation] = cl
	}
	return out
}
