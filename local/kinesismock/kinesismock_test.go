package kinesismock_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/local/kinesismock"
)

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		opts kinesismock.Options
		want []string // substrings of the error; none = valid
	}{
		{name: "zero value", opts: kinesismock.Options{}},
		{name: "defaults", opts: kinesismock.DefaultOptions()},
		{name: "port out of range", opts: kinesismock.Options{Port: 70000}, want: []string{"Port"}},
		{name: "host not an IP", opts: kinesismock.Options{Host: "localhost"}, want: []string{"Host"}},
		{
			name: "every problem at once",
			opts: kinesismock.Options{Port: -1, OperationDelay: -1, StartTimeout: -1, StopGrace: -1},
			want: []string{"Port", "OperationDelay", "StartTimeout", "StopGrace"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate: nil error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if _, err := kinesismock.Start(context.Background(), tc.opts); err == nil {
				t.Error("Start accepted invalid options")
			}
		})
	}
}

func TestStartNotInstalled(t *testing.T) {
	cases := []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{name: "empty folder", dir: func(t *testing.T) string { return t.TempDir() }},
		{name: "main.js without server.json", dir: func(t *testing.T) string {
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, "main.js"), []byte("process.exit(3)\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return d
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kinesismock.Start(context.Background(), kinesismock.Options{PackageDir: tc.dir(t)})
			if !errors.Is(err, kinesismock.ErrNotInstalled) {
				t.Fatalf("Start: %v, want ErrNotInstalled", err)
			}
			if !strings.Contains(err.Error(), "make setup") {
				t.Errorf("error %q does not tell to run make setup", err)
			}
		})
	}
}

func TestStartNoNode(t *testing.T) {
	_, err := kinesismock.Start(context.Background(), kinesismock.Options{Node: filepath.Join(t.TempDir(), "node")})
	if err == nil || !strings.Contains(err.Error(), "start") {
		t.Fatalf("Start with a missing node binary: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := kinesismock.Start(context.Background(), kinesismock.Options{}); !errors.Is(err, kinesismock.ErrNoNode) {
		t.Fatalf("Start without node on PATH: %v, want ErrNoNode", err)
	}
}

// TestLoopbackOnly checks that neither of kinesis-mock's listeners (plain
// HTTP and TLS) accepts connections on a non-loopback address.
func TestLoopbackOnly(t *testing.T) {
	s := sharedKinesisMock(t)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want loopback", s.URL())
	}
	_, port, err := net.SplitHostPort(strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	ip := nonLoopbackIP(t)
	for _, p := range []string{port, itoa(s.TLSPort())} {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", p), 5*time.Second)
		if err != nil {
			t.Fatalf("dial loopback port %s: %v", p, err)
		}
		_ = c.Close()
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, p), 5*time.Second); err == nil {
			_ = c.Close()
			t.Errorf("port %s accepts connections on %s", p, ip)
		}
	}
}

// nonLoopbackIP returns an address of this machine that is not loopback.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Fatalf("no non-loopback IPv4 address among %v", addrs)
	return ""
}

// TestCloseStopsProcess starts a second server, cancels its context and
// checks that the process is gone and Close is idempotent.
func TestCloseStopsProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := kinesismock.Start(ctx, kinesismock.Options{StopGrace: 2 * time.Second})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	t.Logf("second kinesis-mock started in %v, RSS %d KiB", s.StartupTime(), rssKiB(t, s.PID()))
	pid := s.PID()
	cancel() // Start ties the server's life to ctx
	select {
	case <-s.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("kinesis-mock still running 30s after its context ended")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if !processGone(pid) {
		t.Errorf("process %d still exists", pid)
	}
	if _, err := os.Stat(filepath.Dir(s.LogPath())); !os.IsNotExist(err) {
		t.Errorf("temp dir not removed: %v", err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL(), "http://"), time.Second); err == nil {
		_ = c.Close()
		t.Error("port still accepts connections after Close")
	}
}
