// Package moto owns running a moto_server process (the Python AWS emulator)
// for local and test use: a free loopback port, its own process group, a
// health wait with a deadline, and a clean stop that leaves no orphans.
//
// moto_server must be on PATH; install it with `pip install 'moto[server]'`.
package moto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled is returned by Start when the moto_server executable cannot
// be found.
var ErrNotInstalled = errors.New("moto_server not found on PATH (install it with: pip install 'moto[server]')")

// Options configures Start. The zero value is usable.
type Options struct {
	// Binary is the moto_server executable; default: looked up on PATH.
	Binary string
	// Host is the address to bind; default 127.0.0.1.
	Host string
	// Port to listen on; 0 (default) picks a free port.
	Port int
	// Dir is the working directory and log location; default: a new temp dir
	// removed by Close.
	Dir string
	// StartTimeout bounds the wait for the server to answer; default 30s.
	StartTimeout time.Duration
	// StopGrace is how long Close waits after SIGTERM before SIGKILL; default 5s.
	StopGrace time.Duration
	// Env is extra environment (KEY=VALUE) for the child.
	Env []string
}

func (o *Options) setDefaults() {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 5 * time.Second
	}
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("moto.Options.Port: %d out of range", o.Port))
	}
	if o.StartTimeout < 0 {
		errs = append(errs, errors.New("moto.Options.StartTimeout: negative"))
	}
	if o.StopGrace < 0 {
		errs = append(errs, errors.New("moto.Options.StopGrace: negative"))
	}
	return errors.Join(errs...)
}

// Server is a running moto_server process.
type Server struct {
	url     string
	logPath string
	cmd     *exec.Cmd
	grace   time.Duration
	tmpDir  string // removed by Close when we created it

	done    chan struct{} // closed when the process has exited
	waitErr error

	closeOnce sync.Once
	closeErr  error
	stopWatch chan struct{}
}

// Start launches moto_server and waits until it answers HTTP requests. The
// server is also stopped when ctx is cancelled.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	bin := opts.Binary
	if bin == "" {
		p, err := exec.LookPath("moto_server")
		if err != nil {
			return nil, ErrNotInstalled
		}
		bin = p
	}
	dir, tmpDir := opts.Dir, ""
	if dir == "" {
		d, err := os.MkdirTemp("", "spillway-moto-")
		if err != nil {
			return nil, fmt.Errorf("create moto dir: %w", err)
		}
		dir, tmpDir = d, d
	}
	port := opts.Port
	attempts := 1
	if port == 0 {
		attempts = 3 // a picked port can be taken before moto binds it
	}
	var lastErr error
	for i := 0; i < attempts; i++ {
		p := port
		if p == 0 {
			fp, err := freePort(opts.Host)
			if err != nil {
				lastErr = err
				break
			}
			p = fp
		}
		s, err := start(ctx, bin, dir, p, opts)
		if err == nil {
			s.tmpDir = tmpDir
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
	return nil, lastErr
}

func start(ctx context.Context, bin, dir string, port int, opts Options) (*Server, error) {
	logPath := filepath.Join(dir, "moto-"+strconv.Itoa(port)+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open moto log: %w", err)
	}
	cmd := exec.Command(bin, "-H", opts.Host, "-p", strconv.Itoa(port))
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), opts.Env...)
	// Pdeathsig kills moto if this process dies without calling Close (a test
	// binary killed by its timeout, say). It is tied to the OS thread that
	// started the child, so that thread stays locked, blocked in Wait, for
	// the child's whole life.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	s := &Server{
		url:       "http://" + net.JoinHostPort(opts.Host, strconv.Itoa(port)),
		logPath:   logPath,
		cmd:       cmd,
		grace:     opts.StopGrace,
		done:      make(chan struct{}),
		stopWatch: make(chan struct{}),
	}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		_ = logf.Close()
		close(s.done)
	}()
	if err := <-started; err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	if err := s.waitHealthy(ctx, opts.StartTimeout); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("%w\n%s", err, tail(logPath, 2048))
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.stopWatch:
		}
	}()
	return s, nil
}

func (s *Server) waitHealthy(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/moto-api/data.json", nil)
		if err != nil {
			return fmt.Errorf("build health request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("moto_server exited before it was healthy: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("wait for moto_server at %s: %w", s.url, ctx.Err())
		case <-tick.C:
		}
	}
}

// URL is the server's base URL, e.g. http://127.0.0.1:40123.
func (s *Server) URL() string { return s.url }

// LogPath is the file holding the server's stdout and stderr. It lives in
// Options.Dir, or in the temp dir that Close removes when Dir was empty.
func (s *Server) LogPath() string { return s.logPath }

// PID is the server's process id (also its process group id).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Reset drops every resource moto holds (POST /moto-api/reset).
func (s *Server) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/moto-api/reset", nil)
	if err != nil {
		return fmt.Errorf("build reset request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: status %d", resp.StatusCode)
	}
	return nil
}

// Close stops the server's process group (SIGTERM, then SIGKILL after the
// grace period), waits for it, and removes the temp dir Start created. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopWatch)
		pgid := s.cmd.Process.Pid
		select {
		case <-s.done:
		default:
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			t := time.NewTimer(s.grace)
			select {
			case <-s.done:
				t.Stop()
			case <-t.C:
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-s.done
			}
		}
		// Reap anything left in the group (moto may fork workers).
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		if s.tmpDir != "" {
			if err := os.RemoveAll(s.tmpDir); err != nil {
				s.closeErr = fmt.Errorf("remove moto dir: %w", err)
			}
		}
	})
	return s.closeErr
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns up to n bytes from the end of the file at path.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - n
	if off < 0 {
		off = 0
	}
	b, _ := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	return string(b)
}
