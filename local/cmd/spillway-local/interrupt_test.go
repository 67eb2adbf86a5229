package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freeAddr reserves nothing: it finds a loopback port free right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// processesMentioning lists live processes whose command line, working
// directory or environment mentions marker.
func processesMentioning(t testing.TB, marker string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var out []string
	self := fmt.Sprint(os.Getpid())
	for _, e := range ents {
		pid := e.Name()
		if pid == self || pid[0] < '0' || pid[0] > '9' {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		env, _ := os.ReadFile(filepath.Join("/proc", pid, "environ"))
		cwd, _ := os.Readlink(filepath.Join("/proc", pid, "cwd"))
		if strings.Contains(string(cmd), marker) || strings.Contains(string(env), marker) || strings.Contains(cwd, marker) {
			out = append(out, pid+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return out
}

// TestDemoInterruptLeavesNothingBehind runs the demo binary, interrupts it
// (SIGINT, as Ctrl-C) at several points, and checks that it exits, that no
// process it started survives, and that its ports are free again.
func TestDemoInterruptLeavesNothingBehind(t *testing.T) {
	// Every process the demo starts has base in its command line
	// (bootstraps, builds), working directory (moto, terraform and its
	// provider) or environment.
	base := t.TempDir()
	bin := filepath.Join(base, "spillway-local")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	tests := []struct {
		name  string
		after string // interrupt once a stdout line contains this
	}{
		{"while starting", "==> starting"},
		{"while sending the corpus", "==> sending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			marker := base
			addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)}
			cmd := exec.Command(bin, "demo", "-edge", addrs[0], "-api", addrs[1], "-td", addrs[2], "-rest-api", addrs[3],
				"-data-dir", filepath.Join(base, strings.ReplaceAll(tt.name, " ", "_")), "-build-dir", filepath.Join(base, "build"), "-timeout", "10m")
			cmd.Dir = "."
			cmd.Env = append(os.Environ(), "SPILLWAY_DEMO_MARKER="+marker)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			var wg sync.WaitGroup
			seen := make(chan struct{})
			var output strings.Builder
			wg.Add(1)
			go func() {
				defer wg.Done()
				sc := bufio.NewScanner(stdout)
				once := sync.Once{}
				for sc.Scan() {
					output.WriteString(sc.Text() + "\n")
					if strings.Contains(sc.Text(), tt.after) {
						once.Do(func() { close(seen) })
					}
				}
				_, _ = io.Copy(io.Discard, stdout)
			}()
			go func() { wg.Wait(); exited <- cmd.Wait() }()
			select {
			case <-seen:
			case err := <-exited:
				t.Fatalf("demo exited before %q: %v\nstdout:\n%s\nstderr:\n%s", tt.after, err, output.String(), stderr.String())
			case <-time.After(8 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("demo never printed %q", tt.after)
			}
			if tt.name == "while starting" {
				// Let the start reach its child processes (moto, builds, terraform).
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				for len(processesMentioning(t, marker)) == 0 && ctx.Err() == nil {
					<-time.After(50 * time.Millisecond)
				}
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
			case <-time.After(90 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("demo did not exit within 90s of SIGINT\nstdout:\n%s\nstderr:\n%s", output.String(), stderr.String())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			var left []string
			for {
				left = processesMentioning(t, marker)
				if len(left) == 0 || ctx.Err() != nil {
					break
				}
				<-time.After(100 * time.Millisecond)
			}
			if len(left) > 0 {
				for _, p := range left {
					var pid int
					_, _ = fmt.Sscan(p, &pid)
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				t.Fatalf("processes left behind after SIGINT:\n%s", strings.Join(left, "\n"))
			}
			for _, a := range addrs {
				l, err := net.Listen("tcp", a)
				if err != nil {
					t.Errorf("port %s still taken after exit: %v", a, err)
					continue
				}
				_ = l.Close()
			}
		})
	}
}
