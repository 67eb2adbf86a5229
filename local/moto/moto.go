// Package moto owns running a moto_server process (the Python AWS emulator)
// for local and test use: a free loopback port, its own process group, a
// health wait with a deadline, and a clean stop that leaves no orphans.
//
// moto_server must be on PATH; install it with `pip install 'moto[server]'`.
//
// Every server runs with sitecustomize.py (written to its directory and put
// first on PYTHONPATH): moto backs a DynamoDB transaction up by copying
// each table it touches, once per action, so its time grows with the
// tables' size, which DynamoDB's does not; the patch backs up only the
// items the transaction names, with moto's semantics otherwise unchanged.
package moto

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spillwayhq/spillway/local/proc"
)

// ErrNotInstalled is returned by Start when the moto_server executable cannot
// be found.
var ErrNotInstalled = errors.New("moto_server not found on PATH (install it with: pip install 'moto[server]')")

// sitecustomize is the Python patch every moto_server loads.
//
//go:embed sitecustomize.py
var sitecustomize []byte

// patchDir is where Start writes sitecustomize.py for a server in dir (the
// first entry of its PYTHONPATH).
func patchDir(dir string) string { return filepath.Join(dir, "python") }

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
	proc    *proc.Process
	grace   time.Duration
	tmpDir  string // removed by Close when we created it

	closeOnce sync.Once
	closeErr  error
	stopWatch chan struct{} // closed by Close to end the ctx watch
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
	err := os.MkdirAll(patchDir(dir), 0o700)
	if err == nil {
		err = os.WriteFile(filepath.Join(patchDir(dir), "sitecustomize.py"), sitecustomize, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("write moto's patch: %w", err)
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
			fp, err := proc.FreePorts(opts.Host, 1)
			if err != nil {
				lastErr = err
				break
			}
			p = fp[0]
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
	cmd := exec.Command(bin, "-H", opts.Host, "-p", strconv.Itoa(port))
	cmd.Dir = dir
	pythonPath := patchDir(dir)
	if p := os.Getenv("PYTHONPATH"); p != "" {
		pythonPath += string(os.PathListSeparator) + p
	}
	cmd.Env = append(os.Environ(), "PYTHONPATH="+pythonPath)
	cmd.Env = append(cmd.Env, opts.Env...)
	// Pdeathsig kills moto if this process dies without calling Close (a test
	// binary killed by its timeout, say).
	p, err := proc.Start(cmd, proc.Options{LogPath: logPath, Pdeathsig: syscall.SIGKILL})
	if err != nil {
		return nil, fmt.Errorf("moto_server: %w", err)
	}
	s := &Server{
		url:       "http://" + net.JoinHostPort(opts.Host, strconv.Itoa(port)),
		logPath:   logPath,
		proc:      p,
		grace:     opts.StopGrace,
		stopWatch: make(chan struct{}),
	}
	hctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := p.WaitHTTP(hctx, s.url+"/moto-api/data.json"); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("moto_server: %w\n%s", err, proc.Tail(logPath, 2048))
	}
	// The answer may have come from another program that took the port
	// first (another test binary's moto): then this one failed to bind.
	if own, err := p.ListensOn(port); err != nil || !own {
		_ = s.Close()
		return nil, fmt.Errorf("moto_server: port %d is served by another process (err %v)\n%s", port, err, proc.Tail(logPath, 2048))
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

// URL is the server's base URL, e.g. http://127.0.0.1:40123.
func (s *Server) URL() string { return s.url }

// LogPath is the file holding the server's stdout and stderr. It lives in
// Options.Dir, or in the temp dir that Close removes when Dir was empty.
func (s *Server) LogPath() string { return s.logPath }

// PID is the server's process id (also its process group id).
func (s *Server) PID() int { return s.proc.PID() }

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.proc.Done() }

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
		s.proc.Stop(s.grace) // also reaps workers moto may fork
		if s.tmpDir != "" {
			if err := os.RemoveAll(s.tmpDir); err != nil {
				s.closeErr = fmt.Errorf("remove moto dir: %w", err)
			}
		}
	})
	return s.closeErr
}
