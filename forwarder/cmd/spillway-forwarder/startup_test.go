package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runBinary runs bin with args to completion (20 s deadline) and returns
// its exit code and its stdout and stderr together.
func runBinary(tb testing.TB, bin string, env []string, args ...string) (int, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), string(out)
	default:
		tb.Fatalf("%s %v: %v (still running after the deadline?)\n%s", bin, args, err, out)
		return 0, ""
	}
}

// takePort holds a TCP port for the test's life and returns its address.
func takePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// writeConfig writes a config whose state is under dir, with the given
// sources and output blocks.
func writeConfig(tb testing.TB, dir, body string) string {
	tb.Helper()
	p := filepath.Join(dir, "forwarder.yaml")
	cfg := fmt.Sprintf("state_dir: %s\nmonitor: {addr: \"127.0.0.1:0\"}\n%s", filepath.Join(dir, "state"), body)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestStartupErrors: a start-up failure (a port still held by td-agent, a
// missing key file, ...) is one clear line and a non-zero exit, never a
// panic or a Go stack trace.
func TestStartupErrors(t *testing.T) {
	bin := buildBinary(t)
	const output = "output:\n  primary: {url: \"http://127.0.0.1:1\", api_key: k}\n"
	tests := []struct {
		name string
		body func(t *testing.T, dir string) string
		want []string // in the one line
	}{
		{"forward port taken", func(t *testing.T, dir string) string {
			return fmt.Sprintf("sources:\n  forward: {addr: %q}\n", takePort(t)) + output
		}, []string{"sources.forward", "address already in use"}},
		{"http port taken", func(t *testing.T, dir string) string {
			return fmt.Sprintf("sources:\n  http: {addr: %q}\n", takePort(t)) + output
		}, []string{"sources.http", "address already in use"}},
		{"missing key file", func(t *testing.T, dir string) string {
			return "sources:\n  http: {addr: \"127.0.0.1:0\"}\noutput:\n  primary: {url: \"http://127.0.0.1:1\", api_key_file: " + filepath.Join(dir, "nokey") + "}\n"
		}, []string{"nokey", "no such file"}},
		{"state directory under a file", func(t *testing.T, dir string) string {
			if err := os.WriteFile(filepath.Join(dir, "state"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return "sources:\n  http: {addr: \"127.0.0.1:0\"}\n" + output
		}, []string{"state"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, tt.body(t, dir))
			code, out := runBinary(t, bin, nil, "-config", cfg)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero:\n%s", out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 1 || strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
				t.Fatalf("want one line, got %d:\n%s", len(lines), out)
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("%q lacks %q", lines[0], w)
				}
			}
		})
	}
}

// TestVersion: --version prints what the build stamped with -ldflags -X,
// and falls back to the toolchain's build info.
func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "spillway-forwarder")
	pkg := "github.com/spillwayhq/spillway/forwarder/internal/version"
	cmd := exec.Command("go", "build", "-ldflags", "-X "+pkg+".version=v9.8.7 -X "+pkg+".revision=abc123", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	code, out := runBinary(t, bin, nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "spillway-forwarder v9.8.7 (abc123, go") {
		t.Fatalf("--version: exit %d %q", code, out)
	}
	code, out = runBinary(t, buildBinary(t), nil, "--version")
	if code != 0 || !strings.HasPrefix(out, "spillway-forwarder ") || strings.Contains(out, "v9.8.7") {
		t.Fatalf("--version without ldflags: exit %d %q", code, out)
	}
}

// TestCheckFindsProblems: --check prints one line per problem (key file,
// environment variable, state directory, taken port) and exits non-zero.
func TestCheckFindsProblems(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`
sources:
  forward: {addr: %q}
buffer: {path: %s}
output:
  primary: {url: "http://127.0.0.1:1", api_key_file: %s}
  standby: {url: "http://127.0.0.1:1", api_key_env: SPILLWAY_TEST_UNSET_KEY}
`, takePort(t), filepath.Join(dir, "file", "buffer"), filepath.Join(dir, "nokey")))
	code, out := runBinary(t, bin, []string{"SPILLWAY_TEST_UNSET_KEY="}, "-config", cfg, "--check")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code == 0 || len(lines) != 4 {
		t.Fatalf("exit %d, %d lines, want non-zero and 4:\n%s", code, len(lines), out)
	}
	for i, want := range []string{"output.primary.api_key_file", "output.standby.api_key_env: environment variable SPILLWAY_TEST_UNSET_KEY", "buffer.path", "sources.forward.addr"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q lacks %q", i, lines[i], want)
		}
	}
}

// TestSIGHUPReload: SIGHUP applies log.level, refuses a change of a key
// that needs a restart (ERROR naming it, still running), and keeps
// reopening the log file; log.format text writes key=value lines.
func TestSIGHUPReload(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "forwarder.log")
	body := func(level, chunk string) string {
		return fmt.Sprintf("log: {level: %s, format: text, file: %s}\nsources:\n  http: {addr: \"127.0.0.1:0\"}\nbuffer: {chunk_limit: %s}\noutput:\n  primary: {url: \"http://127.0.0.1:1\", api_key: k}\n", level, logFile, chunk)
	}
	cfg := writeConfig(t, dir, body("info", "8m"))
	cmd := exec.Command(bin, "-config", cfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	logHas := func(s string) func() bool {
		return func() bool { b, _ := os.ReadFile(logFile); return strings.Contains(string(b), s) }
	}
	waitFor(t, 20*time.Second, "started", logHas(`msg="forwarder started"`))

	writeConfig(t, dir, body("debug", "8m"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "level applied", logHas(`msg="configuration reloaded" applied=[log.level]`))

	if err := os.Rename(logFile, logFile+".1"); err != nil { // logrotate
		t.Fatal(err)
	}
	writeConfig(t, dir, body("debug", "1m"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "refusal in the new log file", logHas(`level=ERROR msg="reload refused: these keys cannot change while running; restart to apply them (nothing was applied)" keys=[buffer.chunk_limit]`))
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("still running after the refusal, then a clean stop expected: %v", err)
	}
}
