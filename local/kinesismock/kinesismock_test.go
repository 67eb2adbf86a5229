package kinesismock_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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

// TestLoopbackOnly checks, in the kernel's socket tables, that both of
// kinesis-mock's listeners (plain HTTP and TLS) listen on 127.0.0.1 only.
func TestLoopbackOnly(t *testing.T) {
	s := sharedKinesisMock(t)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want loopback", s.URL())
	}
	_, port, err := net.SplitHostPort(strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	listeners := listenAddrs(t)
	for _, p := range []int{plain, s.TLSPort()} {
		addrs := listeners[p]
		if len(addrs) == 0 {
			t.Errorf("nothing listens on port %d (listeners: %v)", p, listeners)
		}
		for _, a := range addrs {
			if a != "127.0.0.1" {
				t.Errorf("port %d listens on %s, want 127.0.0.1 only", p, a)
			}
		}
	}
}

// listenAddrs maps each listening TCP port to its local addresses, from
// /proc/net/tcp and /proc/net/tcp6.
func listenAddrs(t *testing.T) map[int][]string {
	t.Helper()
	out := map[int][]string{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) && f == "/proc/net/tcp6" {
				continue // no IPv6 in this kernel
			}
			t.Fatalf("read %s: %v", f, err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			hexIP, hexPort, ok := strings.Cut(fields[1], ":")
			if !ok {
				t.Fatalf("%s: bad local address %q", f, fields[1])
			}
			port, err := strconv.ParseUint(hexPort, 16, 16)
			if err != nil {
				t.Fatalf("%s: bad port %q", f, hexPort)
			}
			raw, err := hex.DecodeString(hexIP)
			if err != nil || (len(raw) != 4 && len(raw) != 16) {
				t.Fatalf("%s: bad address %q", f, hexIP)
			}
			// The kernel prints each 32-bit word in host (little-endian) order.
			for w := 0; w < len(raw); w += 4 {
				raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
			}
			ip := net.IP(raw)
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			out[int(port)] = append(out[int(port)], ip.String())
		}
	}
	return out
}

// TestCloseStopsProcess starts a server per case, ends it by cancelling its
// context, and checks that the process is gone, the port closed, the temp
// dir removed and Close idempotent - also when a client holds a keep-alive
// connection, which kinesis-mock's graceful shutdown waits for (Close then
// needs the SIGKILL after StopGrace).
func TestCloseStopsProcess(t *testing.T) {
	cases := []struct {
		name     string
		holdConn bool
	}{
		{name: "no client connection"},
		{name: "client holds a keep-alive connection", holdConn: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := kinesismock.Start(ctx, kinesismock.Options{StopGrace: time.Second})
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			t.Logf("kinesis-mock started in %v, RSS %d KiB", s.StartupTime(), rssKiB(t, s.PID()))
			if tc.holdConn {
				c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.URL(), "http://"), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Write([]byte("GET /healthcheck HTTP/1.1\r\nHost: kinesis\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("health over held connection: %v", err)
				}
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Close {
					t.Fatalf("health: %d, close=%v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
				}
			}
			pid := s.PID()
			stopped := time.Now()
			cancel() // Start ties the server's life to ctx
			select {
			case <-s.Done():
				t.Logf("kinesis-mock exited %v after its context ended", time.Since(stopped))
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
		})
	}
}
