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
