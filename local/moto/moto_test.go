package moto_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/local/moto"
)

func startMoto(tb testing.TB, ctx context.Context) *moto.Server {
	tb.Helper()
	s, err := moto.Start(ctx, moto.Options{})
	if err != nil {
		tb.Fatalf("start moto: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close moto: %v", err)
		}
	})
	return s
}

func s3Client(url string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func processGone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func waitGone(tb testing.TB, pid int, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			tb.Fatalf("process %d still alive after %v", pid, within)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

func TestServerServesS3AndStops(t *testing.T) {
	s := startMoto(t, context.Background())
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want loopback", s.URL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s3Client(s.URL())
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("spillway-moto-test")}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("list buckets: %v", err)
	}
	if len(out.Buckets) != 1 || aws.ToString(out.Buckets[0].Name) != "spillway-moto-test" {
		t.Fatalf("buckets = %+v, want the one created", out.Buckets)
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatalf("reset: %v", err)
	}
	out, err = c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("list buckets after reset: %v", err)
	}
	if len(out.Buckets) != 0 {
		t.Fatalf("buckets after reset = %d, want 0", len(out.Buckets))
	}

	pid := s.PID()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if !processGone(pid) {
		t.Fatalf("process %d alive after Close", pid)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestContextCancelStopsServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := startMoto(t, ctx)
	pid := s.PID()
	cancel()
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("server still running 30s after cancel")
	}
	waitGone(t, pid, 10*time.Second)
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	exitScript := filepath.Join(dir, "fake_moto")
	if err := os.WriteFile(exitScript, []byte("#!/bin/sh\necho boom >&2\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		opts    moto.Options
		wantIs  error
		wantSub string
	}{
		{name: "not on PATH", path: dir + "/empty", wantIs: moto.ErrNotInstalled},
		{name: "bad port", opts: moto.Options{Port: 70000}, wantSub: "Port"},
		{name: "exits early", opts: moto.Options{Binary: exitScript, StartTimeout: 20 * time.Second}, wantSub: "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path != "" {
				t.Setenv("PATH", tc.path)
			}
			s, err := moto.Start(context.Background(), tc.opts)
			if err == nil {
				_ = s.Close()
				t.Fatal("Start succeeded, want error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("err = %v, want %v", err, tc.wantIs)
			}
			if tc.wantSub != "" && !strings.Contains(err.Error(), tc.wantSub) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantSub)
			}
		})
	}
}

// TestHelperProcess is not a test: TestNoOrphanWhenParentDies runs the test
// binary with SPILLWAY_MOTO_HELPER=1 to get a parent that starts moto and is
// then killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("SPILLWAY_MOTO_HELPER") != "1" {
		return
	}
	s, err := moto.Start(context.Background(), moto.Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("PID", s.PID())
	select {} // wait to be killed
}

func TestNoOrphanWhenParentDies(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SPILLWAY_MOTO_HELPER=1")
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
		t.Fatal("helper did not report a moto pid")
	}
	t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	if processGone(pid) {
		t.Fatalf("moto %d not running before the parent was killed", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, pid, 10*time.Second)
}
