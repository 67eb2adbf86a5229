package main

import (
	"fmt"
	"math/rand/v2"
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

// buildBinary compiles the forwarder into a temp dir.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "spillway-forwarder")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

type rig struct {
	tb      testing.TB
	bin     string
	dir     string
	logPath string
	cfgPath string
	recv    *tdtest.Server
	recv2   *tdtest.Server // a second endpoint ({{URL2}} in newRigWith's YAML)
	written int
	history []string
	// progress counts the records that arrived (default: recv's
	// db1.app records); kill9Runs waits on it.
	progress func() int
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	return newRigWith(tb, "")
}

// newRigWith is newRig with extra YAML appended to the configuration;
// {{URL}} in it stands for the receiver's URL, {{URL2}} for a second
// receiver's (recv2).
func newRigWith(tb testing.TB, extra string) *rig {
	tb.Helper()
	r := &rig{tb: tb, bin: buildBinary(tb), dir: tb.TempDir(), recv: tdtest.NewTest(tb, tdtest.Config{APIKey: "k", AutoCreate: true})}
	tb.Cleanup(func() {
		if tb.Failed() {
			log, _ := os.ReadFile(filepath.Join(r.dir, "forwarder.log"))
			if d := os.Getenv("SPILLWAY_TEST_KEEP_LOG"); d != "" {
				_ = os.WriteFile(d, log, 0o600)
			}
			if len(log) > 8000 {
				log = log[len(log)-8000:]
			}
			tb.Logf("forwarder log (tail):\n%s", log)
		}
	})
	srv := httptest.NewServer(r.recv)
	tb.Cleanup(srv.Close)
	r.logPath = filepath.Join(r.dir, "logs", "access.log")
	if err := os.MkdirAll(filepath.Dir(r.logPath), 0o755); err != nil {
		tb.Fatal(err)
	}
	cfg := fmt.Sprintf(`
state_dir: %s
log: {file: %s, level: debug}
sources:
  tail:
    - name: app
      path: [%q]
      tag: td.db1.app
      read_from_head: true
      poll_interval: 20ms
      refresh_interval: 50ms
      rotate_wait: 200ms
      batch_bytes: 4096
buffer:
  chunk_limit: 16384
  flush_interval: 100ms
output:
  primary: {url: %q, api_key: k}
  concurrency: 2
  min_backoff: 10ms
  max_backoff: 100ms
monitor: {addr: "127.0.0.1:0"}
shutdown_timeout: 10s
`, filepath.Join(r.dir, "state"), filepath.Join(r.dir, "forwarder.log"), filepath.Join(r.dir, "logs", "*.log"), srv.URL)
	if strings.Contains(extra, "{{URL2}}") {
		r.recv2 = tdtest.NewTest(tb, tdtest.Config{APIKey: "k", AutoCreate: true})
		srv2 := httptest.NewServer(r.recv2)
		tb.Cleanup(srv2.Close)
		extra = strings.ReplaceAll(extra, "{{URL2}}", srv2.URL)
	}
	cfg += strings.ReplaceAll(extra, "{{URL}}", srv.URL)
	r.cfgPath = filepath.Join(r.dir, "forwarder.yaml")
	if err := os.WriteFile(r.cfgPath, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	return r
}

func (r *rig) line(i int) string { return fmt.Sprintf("line-%07d %s", i, strings.Repeat("y", i%40)) }

func (r *rig) write(n int) {
	r.tb.Helper()
	f, err := os.OpenFile(r.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		r.tb.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(r.line(r.written) + "\n")
		r.written++
	}
	if _, err := f.WriteString(b.String()); err != nil {
		r.tb.Fatal(err)
	}
}

// rotate renames access.log -> .1 -> .2 ... like logrotate; with copy set
// it copies access.log to .1 and truncates it (logrotate copytruncate). It
// keeps 41 rotated files: a test that deleted a rotated file before the
// forwarder (killed within milliseconds) had read it would lose lines by
// construction.
func (r *rig) rotate(copy bool) {
	r.tb.Helper()
	for i := 40; i >= 1; i-- {
		p := fmt.Sprintf("%s.%d", r.logPath, i)
		if _, err := os.Stat(p); err == nil {
			if err := os.Rename(p, fmt.Sprintf("%s.%d", r.logPath, i+1)); err != nil {
				r.tb.Fatal(err)
			}
		}
	}
	if copy {
		data, err := os.ReadFile(r.logPath)
		if err != nil {
			r.tb.Fatal(err)
		}
		if err := os.WriteFile(r.logPath+".1", data, 0o644); err != nil {
			r.tb.Fatal(err)
		}
		if err := os.Truncate(r.logPath, 0); err != nil {
			r.tb.Fatal(err)
		}
		r.history = append(r.history, fmt.Sprintf("copytruncate@%d", r.written))
		return
	}
	if err := os.Rename(r.logPath, r.logPath+".1"); err != nil {
		r.tb.Fatal(err)
	}
	r.history = append(r.history, fmt.Sprintf("rotate@%d", r.written))
}

func (r *rig) start() *exec.Cmd {
	r.tb.Helper()
	r.history = append(r.history, fmt.Sprintf("start@%d", r.written))
	cmd := exec.Command(r.bin, "-config", r.cfgPath)
	stderr, err := os.OpenFile(filepath.Join(r.dir, "stderr"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		r.tb.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		r.tb.Fatal(err)
	}
	r.tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// starts counts the forwarder's "forwarder started" log lines (logged once
// its signal handlers are installed).
func (r *rig) starts() int {
	log, _ := os.ReadFile(filepath.Join(r.dir, "forwarder.log"))
	return strings.Count(string(log), `"msg":"forwarder started"`)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a condition with a deadline
	}
}

func (r *rig) exactlyOnce() {
	r.tb.Helper()
	seen := map[string]int{}
	for _, rec := range r.recv.Records("db1", "app") {
		m, _ := rec["message"].(string)
		seen[m]++
	}
	missing, dups := 0, 0
	var firstMissing, firstDup []int
	for i := 0; i < r.written; i++ {
		switch seen[r.line(i)] {
		case 0:
			missing++
			if len(firstMissing) < 5 {
				firstMissing = append(firstMissing, i)
			}
		case 1:
		default:
			dups++
			if len(firstDup) < 5 {
				firstDup = append(firstDup, i)
			}
		}
	}
	if missing != 0 || dups != 0 {
		pos, _ := os.ReadFile(filepath.Join(r.dir, "state", "pos", "app.json"))
		r.tb.Logf("first missing %v, first duplicated %v; history %v\nposition file: %s", firstMissing, firstDup, r.history, pos)
	}
	if missing != 0 || dups != 0 || len(seen) != r.written {
		r.tb.Fatalf("%d lines written: %d missing, %d duplicated, %d distinct received", r.written, missing, dups, len(seen))
	}
}

// stop waits for a SIGTERMed forwarder to exit within a deadline; on
// timeout it dumps its goroutines (SIGQUIT) and fails.
func (r *rig) stop(cmd *exec.Cmd) {
	r.tb.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			r.tb.Fatalf("clean stop: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-done
		dump, _ := os.ReadFile(filepath.Join(r.dir, "stderr"))
		r.tb.Fatalf("forwarder did not stop within 30s:\n%s", dump)
	}
}

func TestCheckFlag(t *testing.T) {
	r := newRig(t)
	out, err := exec.Command(r.bin, "-config", r.cfgPath, "--check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration OK") {
		t.Fatalf("--check: %v %s", err, out)
	}
	bad := filepath.Join(r.dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("nonsense: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(r.bin, "-config", bad, "--check").CombinedOutput(); err == nil {
		t.Fatalf("--check accepted a bad config: %s", out)
	}
}

// TestKill9 kills the forwarder with SIGKILL at seeded random points while
// lines are written and the log rotates (rename and copytruncate, chosen at
// random); after a last clean run every line must have arrived exactly once.
func TestKill9(t *testing.T) {
	kill9(t, newRig(t), 20)
}

// TestKill9NamedOutput is TestKill9 with the tail routed to a named output
// (its own buffer directory, recovered on its own): still exactly once.
func TestKill9NamedOutput(t *testing.T) {
	kill9(t, newRigWith(t, `
outputs:
  - name: archive
    primary: {url: "{{URL}}", api_key: k}
    concurrency: 2
    min_backoff: 10ms
    max_backoff: 100ms
routes:
  - match: "td.db1.*"
    output: archive
`), 10)
}

// TestKill9Copy is TestKill9 with the tail copied to two outputs (two
// endpoints): each gets every line; a kill between the outputs' writes of
// a batch may send the last batches again (at least once, documented).
func TestKill9Copy(t *testing.T) {
	r := newRigWith(t, `
outputs:
  - name: archive
    primary: {url: "{{URL2}}", api_key: k}
    concurrency: 2
    min_backoff: 10ms
    max_backoff: 100ms
routes:
  - match: "td.db1.*"
    output: [default, archive]
`)
	kill9Runs(t, r, 10, func() bool {
		return r.distinct(r.recv) >= r.written && r.distinct(r.recv2) >= r.written
	})
	for i, recv := range []*tdtest.Server{r.recv, r.recv2} {
		seen := map[string]int{}
		for _, rec := range recv.Records("db1", "app") {
			m, _ := rec["message"].(string)
			seen[m]++
		}
		missing, dups := 0, 0
		for l := 0; l < r.written; l++ {
			switch n := seen[r.line(l)]; {
			case n == 0:
				missing++
			case n > 1:
				dups++
			}
		}
		t.Logf("endpoint %d: %d lines written, %d duplicated", i, r.written, dups)
		if missing != 0 || len(seen) != r.written {
			t.Fatalf("endpoint %d: %d lines written, %d missing, %d distinct received", i, r.written, missing, len(seen))
		}
	}
}

func kill9(t *testing.T, r *rig, runs int) {
	t.Helper()
	kill9Runs(t, r, runs, func() bool { return r.recv.Count("db1", "app") >= r.written })
	r.exactlyOnce()
}

// distinct is the number of distinct lines recv holds.
func (r *rig) distinct(recv *tdtest.Server) int {
	seen := map[string]bool{}
	for _, rec := range recv.Records("db1", "app") {
		m, _ := rec["message"].(string)
		seen[m] = true
	}
	return len(seen)
}

// kill9Runs kills the forwarder runs times at random points while lines
// are written and rotated, then lets a last run ship everything to recv and
// stops it cleanly once complete reports that everything arrived (or after
// a minute).
func kill9Runs(t *testing.T, r *rig, runs int, complete func() bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for run := 0; run < runs; run++ {
		if rng.IntN(4) == 0 && r.written > 0 {
			r.rotate(rng.IntN(2) == 0)
		}
		r.write(200 + rng.IntN(800))
		cmd := r.start()
		if run == 0 { // lines before the very first start are pre-existing: let it see them once
			waitFor(t, 20*time.Second, "first position file", func() bool {
				_, err := os.Stat(filepath.Join(r.dir, "state", "pos", "app.json"))
				return err == nil
			})
		}
		switch mode := rng.IntN(3); mode {
		case 0: // right away
		case 1: // once something arrived
			progress := r.progress
			if progress == nil {
				progress = func() int { return r.recv.Count("db1", "app") }
			}
			target := progress() + 1 + rng.IntN(r.written-progress()+1)
			waitFor(t, 20*time.Second, "progress", func() bool { return progress() >= min(target, r.written) })
		case 2: // while writing more
			r.write(100 + rng.IntN(300))
			if rng.IntN(2) == 0 {
				r.rotate(rng.IntN(2) == 0)
				r.write(50)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	started := r.starts()
	cmd := r.start()
	// SIGTERM before the signal handler is installed would kill it: wait
	// until it reports it started, even when every line already arrived.
	waitFor(t, 20*time.Second, "last start", func() bool { return r.starts() > started })
	deadline := time.Now().Add(60 * time.Second)
	for !complete() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling interval of a condition with a deadline
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r.stop(cmd)
}

// TestSigtermFlushes checks that SIGTERM ships what is buffered before exit
// even with a long flush_interval.
func TestSigtermFlushes(t *testing.T) {
	r := newRig(t)
	cfg, _ := os.ReadFile(r.cfgPath)
	_ = os.WriteFile(r.cfgPath, []byte(strings.Replace(string(cfg), "flush_interval: 100ms", "flush_interval: 1h", 1)), 0o600)
	r.write(500)
	cmd := r.start()
	waitFor(t, 20*time.Second, "lines read", func() bool {
		st, err := os.ReadFile(filepath.Join(r.dir, "state", "pos", "app.json"))
		return err == nil && strings.Contains(string(st), `"offset": `) && !strings.Contains(string(st), `"offset": 0`)
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r.stop(cmd)
	if r.recv.Count("db1", "app") != 500 {
		t.Fatalf("received %d of 500 after SIGTERM", r.recv.Count("db1", "app"))
	}
	r.exactlyOnce()
}

// TestRotationsWhileRunning rotates by rename and by copytruncate while the
// forwarder runs; every line must arrive exactly once.
func TestRotationsWhileRunning(t *testing.T) {
	r := newRig(t)
	r.write(300)
	cmd := r.start()
	for i, copy := range []bool{false, true, false, true, true} {
		waitFor(t, 30*time.Second, fmt.Sprintf("lines before rotation %d", i), func() bool { return r.recv.Count("db1", "app") >= r.written })
		r.rotate(copy)
		r.write(200)
	}
	waitFor(t, 30*time.Second, "every line", func() bool { return r.recv.Count("db1", "app") >= r.written })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r.stop(cmd)
	r.exactlyOnce()
}
