package proc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/local/proc"
)

// TestMain lets the test binary act as the helper children the tests need,
// selected by SPILLWAY_PROC_HELPER:
//
//	http <port> <fails>  serve GET /health on 127.0.0.1:<port>, answering 503 <fails> times, then 200
//	parent               start `sleep 1000` with Pdeathsig, print "PID <pid>", block until killed
func TestMain(m *testing.M) {
	switch os.Getenv("SPILLWAY_PROC_HELPER") {
	case "":
		os.Exit(m.Run())
	case "http":
		os.Exit(helperHTTP(os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]))
	case "parent":
		os.Exit(helperParent())
	}
	fmt.Fprintln(os.Stderr, "unknown helper")
	os.Exit(2)
}

func helperHTTP(port, fails string) int {
	n, err := strconv.Atoi(fails)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var seen atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		if seen.Add(1) <= int64(n) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	err = http.ListenAndServe("127.0.0.1:"+port, mux)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

func helperParent() int {
	p, err := proc.Start(exec.Command("sleep", "1000"), proc.Options{Pdeathsig: syscall.SIGKILL})
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println("PID", p.PID())
	select {} // wait to be killed
}

// helper returns a command running this test binary as the named helper.
func helper(kind string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), "SPILLWAY_PROC_HELPER="+kind)
	return cmd
}

// gone reports whether pid no longer runs (never existed, reaped, or a
// zombie waiting for a parent that is not us).
func gone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// waitGone polls, with a deadline, until pid no longer runs.
func waitGone(tb testing.TB, pid int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !gone(pid) {
		select {
		case <-ctx.Done():
			tb.Fatalf("process %d still running after 20s", pid)
		case <-tick.C:
		}
	}
}

// startShell starts sh -c script and returns the process and the first
// line the script prints (its readiness signal).
func startShell(tb testing.TB, script string) (*proc.Process, string) {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("sh", "-c", script)
	cmd.Stdout = w
	p, err := proc.Start(cmd, proc.Options{})
	_ = w.Close()
	if err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(p.Kill)
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		tb.Fatalf("read the script's first line: %v", err)
	}
	return p, strings.TrimSpace(line)
}

func TestStopKillsTheWholeGroup(t *testing.T) {
	tests := []struct {
		name   string
		script string
		grace  time.Duration
	}{
		// sh waits for its background sleep, which SIGTERM alone would kill.
		{name: "exits on SIGTERM", script: `sleep 1000 & echo $!; wait`, grace: time.Minute},
		// Both ignore SIGTERM: only the SIGKILL after the grace stops them.
		{name: "ignores SIGTERM", script: `trap "" TERM; sleep 1000 & echo $!; wait`, grace: 50 * time.Millisecond},
		// The grandchild leaves sh's job control but stays in the group.
		{name: "orphaned grandchild", script: `(trap "" TERM; sleep 1000 & echo $!) ; sleep 1000`, grace: time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, line := startShell(t, tc.script)
			grandchild, err := strconv.Atoi(line)
			if err != nil {
				t.Fatalf("script printed %q, want a pid", line)
			}
			if gone(grandchild) || gone(p.PID()) {
				t.Fatal("child or grandchild not running before Stop")
			}
			p.Stop(tc.grace)
			select {
			case <-p.Done():
			default:
				t.Fatal("Stop returned before the child exited")
			}
			if !gone(p.PID()) {
				t.Errorf("child %d still running after Stop", p.PID())
			}
			waitGone(t, grandchild)
			p.Stop(tc.grace) // a second call returns at once
		})
	}
}

func TestErrAndLogPath(t *testing.T) {
	log := filepath.Join(t.TempDir(), "child.log")
	if err := os.WriteFile(log, []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := proc.Start(exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"), proc.Options{LogPath: log})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Err = %v, want exit status 3", p.Err())
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != "out\nerr\n" {
		t.Fatalf("log = %q, want the child's stdout and stderr only", got)
	}
	if got := proc.Tail(log, 4); got != "err\n" {
		t.Fatalf("Tail(4) = %q, want %q", got, "err\n")
	}
	if got := proc.Tail(log, 1<<20); got != "out\nerr\n" {
		t.Fatalf("Tail(1MiB) = %q, want the whole file", got)
	}
	if got := proc.Tail(filepath.Join(t.TempDir(), "missing"), 10); got != "" {
		t.Fatalf("Tail of a missing file = %q, want empty", got)
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		cmd  *exec.Cmd
		opts proc.Options
	}{
		{name: "no such binary", cmd: exec.Command(filepath.Join(t.TempDir(), "missing"))},
		{name: "log dir missing", cmd: exec.Command("true"), opts: proc.Options{LogPath: filepath.Join(t.TempDir(), "no", "such.log")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := proc.Start(tc.cmd, tc.opts)
			if err == nil {
				p.Kill()
				t.Fatal("Start succeeded, want an error")
			}
		})
	}
}

func TestWaitHTTP(t *testing.T) {
	ports, err := proc.FreePorts("127.0.0.1", 3)
	if err != nil {
		t.Fatal(err)
	}
	if ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Fatalf("FreePorts returned duplicates: %v", ports)
	}
	url := func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) + "/health" }
	tests := []struct {
		name    string
		cmd     *exec.Cmd
		url     string
		timeout time.Duration
		wantIs  error // nil: healthy
	}{
		{name: "healthy after some 503s", cmd: helper("http", strconv.Itoa(ports[0]), "3"), url: url(ports[0]), timeout: time.Minute},
		{name: "exits before answering", cmd: exec.Command("sh", "-c", "exit 3"), url: url(ports[1]), timeout: time.Minute, wantIs: proc.ErrExited},
		{name: "deadline", cmd: exec.Command("sleep", "1000"), url: url(ports[2]), timeout: 200 * time.Millisecond, wantIs: context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := proc.Start(tc.cmd, proc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Stop(5 * time.Second) })
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			err = p.WaitHTTP(ctx, tc.url)
			if tc.wantIs == nil {
				if err != nil {
					t.Fatalf("WaitHTTP: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("WaitHTTP: %v, want %v", err, tc.wantIs)
			}
		})
	}
}

func TestFreePortsAreListenable(t *testing.T) {
	ports, err := proc.FreePorts("127.0.0.1", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d from FreePorts: %v", p, err)
		}
		_ = l.Close()
	}
}

// TestPdeathsigKillsChildWhenParentDies runs a parent (this binary as a
// helper) that starts `sleep` with Pdeathsig, kills the parent, and checks
// the sleep dies with it.
func TestPdeathsigKillsChildWhenParentDies(t *testing.T) {
	cmd := helper("parent")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pid int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "PID %d", &pid); err == nil {
			break
		}
		if strings.HasPrefix(sc.Text(), "ERR") {
			t.Fatal(sc.Text())
		}
	}
	if pid == 0 {
		t.Fatal("helper did not report its child's pid")
	}
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	if gone(pid) {
		t.Fatalf("child %d not running before its parent was killed", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, pid)
}

// TestListensOn: a child that serves a port owns it; a port another
// program (here, this test process) listens on is not the child's, even
// though an HTTP health check against it would succeed.
func TestListensOn(t *testing.T) {
	ports, err := proc.FreePorts("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := proc.Start(helper("http", strconv.Itoa(ports[0]), "0"), proc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.WaitHTTP(ctx, "http://127.0.0.1:"+strconv.Itoa(ports[0])+"/health"); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherPort := other.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name string
		port int
		want bool
	}{{"its own port", ports[0], true}, {"a port this process holds", otherPort, false}} {
		got, err := p.ListensOn(tc.port)
		if err != nil || got != tc.want {
			t.Errorf("%s: ListensOn(%d) = %v, %v; want %v", tc.name, tc.port, got, err, tc.want)
		}
	}
}
