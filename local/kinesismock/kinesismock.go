// Package kinesismock owns running kinesis-mock (LocalStack's own Kinesis
// engine, npm package kinesis-local, pinned in local/npm) for tests: plain
// HTTP on a free loopback port, its own process group, a health wait with a
// deadline, and a stop that leaves no orphans. Its fidelity tests measure the
// Kinesis limits Spillway relies on (see README.md).
//
// kinesis-mock hard-codes 0.0.0.0 as its listen address and has no setting
// for it; Start preloads a small script (loopback.js) that rewrites the
// listen host of both its ports (plain HTTP and TLS) to Options.Host.
//
// The package is installed by `make setup` (npm ci in local/npm).
package kinesismock

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/spillwayhq/spillway/local/proc"
)

// ErrNotInstalled is returned by Start when node_modules/kinesis-local cannot
// be found under the npm folder.
var ErrNotInstalled = errors.New("kinesis-mock (npm package kinesis-local) is not installed: run `make setup` (npm ci in local/npm)")

// ErrNoNode is returned by Start when the node executable cannot be found.
var ErrNoNode = errors.New("node not found on PATH: install Node.js >= 18 (kinesis-mock is a Node.js program)")

//go:embed loopback.js
var loopbackJS []byte

// npmDir is the folder, relative to the repository root, that holds the
// package.json and lockfile pinning kinesis-local.
const npmDir = "local/npm"

// Options configures Start. The zero value is usable from anywhere inside
// the repository.
type Options struct {
	// PackageDir is the kinesis-local package folder (the one holding
	// main.js and server.json); default: local/npm/node_modules/kinesis-local
	// of the repository enclosing the working directory.
	PackageDir string
	// Node is the node executable; default: looked up on PATH.
	Node string
	// Host is the address both ports bind; default 127.0.0.1.
	Host string
	// Port is the plain HTTP port; 0 (default) picks a free one. The TLS
	// port kinesis-mock always opens gets a free port too.
	Port int
	// OperationDelay is how long stream operations (create, delete, update
	// shard count, ...) stay in their transitional status; default 10ms
	// (kinesis-mock's own default is 500ms).
	OperationDelay time.Duration
	// Dir holds the log and the preload script; default: a new temp dir
	// removed by Close.
	Dir string
	// StartTimeout bounds the wait for the server to answer; default 90s
	// (a cold start takes 2-8s on 2 busy cores).
	StartTimeout time.Duration
	// StopGrace is how long Close waits after SIGTERM before SIGKILL;
	// default 2s. kinesis-mock's graceful shutdown waits for clients' open
	// keep-alive connections, so with live SDK clients Close usually takes
	// the whole grace; it persists nothing, so the SIGKILL loses nothing.
	StopGrace time.Duration
	// Env is extra environment (KEY=VALUE) for the child, after the
	// defaults, e.g. LOG_LEVEL=DEBUG or INITIALIZE_STREAMS=s:1.
	Env []string
}

// DefaultOptions returns the options with every default filled in except
// PackageDir and Node, which Start resolves.
func DefaultOptions() Options {
	return Options{
		Host:           "127.0.0.1",
		OperationDelay: 10 * time.Millisecond,
		StartTimeout:   90 * time.Second,
		StopGrace:      2 * time.Second,
	}
}

func (o *Options) setDefaults() {
	d := DefaultOptions()
	if o.Host == "" {
		o.Host = d.Host
	}
	if o.OperationDelay == 0 {
		o.OperationDelay = d.OperationDelay
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = d.StartTimeout
	}
	if o.StopGrace == 0 {
		o.StopGrace = d.StopGrace
	}
}

// Validate reports every problem with the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("kinesismock.Options.Port: %d out of range", o.Port))
	}
	if o.Host != "" && net.ParseIP(o.Host) == nil {
		errs = append(errs, fmt.Errorf("kinesismock.Options.Host: %q is not an IP address", o.Host))
	}
	if o.OperationDelay < 0 {
		errs = append(errs, errors.New("kinesismock.Options.OperationDelay: negative"))
	}
	if o.StartTimeout < 0 {
		errs = append(errs, errors.New("kinesismock.Options.StartTimeout: negative"))
	}
	if o.StopGrace < 0 {
		errs = append(errs, errors.New("kinesismock.Options.StopGrace: negative"))
	}
	return errors.Join(errs...)
}

// Server is a running kinesis-mock process.
type Server struct {
	url     string
	tlsPort int
	logPath string
	proc    *proc.Process
	grace   time.Duration
	tmpDir  string // removed by Close when Start created it
	startup time.Duration

	closeOnce sync.Once
	closeErr  error
	stopWatch chan struct{} // closed by Close to end the ctx watch
}

// Start launches kinesis-mock and waits until its health check answers. The
// server is also stopped when ctx is cancelled.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	pkg, err := packageDir(opts.PackageDir)
	if err != nil {
		return nil, err
	}
	node := opts.Node
	if node == "" {
		p, err := exec.LookPath("node")
		if err != nil {
			return nil, ErrNoNode
		}
		node = p
	}
	dir, tmpDir := opts.Dir, ""
	if dir == "" {
		d, err := os.MkdirTemp("", "spillway-kinesismock-")
		if err != nil {
			return nil, fmt.Errorf("create kinesis-mock dir: %w", err)
		}
		dir, tmpDir = d, d
	}
	preload := filepath.Join(dir, "loopback.js")
	if err := os.WriteFile(preload, loopbackJS, 0o600); err != nil {
		if tmpDir != "" {
			_ = os.RemoveAll(tmpDir)
		}
		return nil, fmt.Errorf("write kinesis-mock preload: %w", err)
	}
	attempts := 1
	if opts.Port == 0 {
		attempts = 3 // a picked port can be taken before kinesis-mock binds it
	}
	var lastErr error
	for i := 0; i < attempts; i++ {
		ports, err := proc.FreePorts(opts.Host, 2)
		if err != nil {
			lastErr = err
			break
		}
		if opts.Port != 0 {
			if ports[1] == opts.Port {
				ports[1] = ports[0]
			}
			ports[0] = opts.Port
		}
		s, err := start(ctx, node, pkg, dir, preload, ports[0], ports[1], opts)
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

// packageDir returns the kinesis-local package folder, checking that it
// holds main.js and server.json.
func packageDir(dir string) (string, error) {
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrNotInstalled, err)
		}
		dir = filepath.Join(root, npmDir, "node_modules", "kinesis-local")
	}
	for _, f := range []string{"main.js", "server.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("%w: %v", ErrNotInstalled, err)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", dir, err)
	}
	return abs, nil
}

// repoRoot walks up from the working directory to the folder holding
// local/npm/package.json.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, npmDir, "package.json")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no %s/package.json in %s or any parent", npmDir, wd)
		}
	}
}

func start(ctx context.Context, node, pkg, dir, preload string, port, tlsPort int, opts Options) (*Server, error) {
	logPath := filepath.Join(dir, "kinesis-mock-"+strconv.Itoa(port)+".log")
	delay := strconv.FormatInt(opts.OperationDelay.Milliseconds(), 10) + "ms"
	cmd := exec.Command(node, "--require", preload, filepath.Join(pkg, "main.js"))
	cmd.Dir = pkg // kinesis-mock resolves relative paths (server.json, data/) here
	env := append(os.Environ(),
		"SPILLWAY_KINESIS_MOCK_HOST="+opts.Host,
		"KINESIS_MOCK_PLAIN_PORT="+strconv.Itoa(port),
		"KINESIS_MOCK_TLS_PORT="+strconv.Itoa(tlsPort),
		"KINESIS_MOCK_CERT_PATH="+filepath.Join(pkg, "server.json"),
		"SHOULD_PERSIST_DATA=false",
		"AWS_REGION=us-east-1",
		"AWS_ACCOUNT_ID=000000000000",
	)
	for _, v := range []string{"CREATE_STREAM_DURATION", "DELETE_STREAM_DURATION", "REGISTER_STREAM_CONSUMER_DURATION",
		"DEREGISTER_STREAM_CONSUMER_DURATION", "START_STREAM_ENCRYPTION_DURATION", "STOP_STREAM_ENCRYPTION_DURATION",
		"MERGE_SHARDS_DURATION", "SPLIT_SHARD_DURATION", "UPDATE_SHARD_COUNT_DURATION", "UPDATE_STREAM_MODE_DURATION"} {
		env = append(env, v+"="+delay)
	}
	cmd.Env = append(env, opts.Env...)
	began := time.Now()
	// Pdeathsig kills kinesis-mock if this process dies without calling
	// Close (a test binary killed by its timeout, say).
	p, err := proc.Start(cmd, proc.Options{LogPath: logPath, Pdeathsig: syscall.SIGKILL})
	if err != nil {
		return nil, fmt.Errorf("kinesis-mock: %w", err)
	}
	s := &Server{
		url:       "http://" + net.JoinHostPort(opts.Host, strconv.Itoa(port)),
		tlsPort:   tlsPort,
		logPath:   logPath,
		proc:      p,
		grace:     opts.StopGrace,
		stopWatch: make(chan struct{}),
	}
	// WaitHTTP keeps no connection alive: kinesis-mock's graceful shutdown
	// (SIGTERM) waits for open connections.
	hctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := p.WaitHTTP(hctx, s.url+"/healthcheck"); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("kinesis-mock: %w\n%s", err, proc.Tail(logPath, 2048))
	}
	// The answer may have come from another program that took the port
	// first: then this one failed to bind.
	if own, err := p.ListensOn(port); err != nil || !own {
		_ = s.Close()
		return nil, fmt.Errorf("kinesis-mock: port %d is served by another process (err %v)\n%s", port, err, proc.Tail(logPath, 2048))
	}
	s.startup = time.Since(began)
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.stopWatch:
		}
	}()
	return s, nil
}

// URL is the plain HTTP endpoint, e.g. http://127.0.0.1:40123.
func (s *Server) URL() string { return s.url }

// TLSPort is the port of kinesis-mock's HTTPS listener (self-signed
// certificate from the package's server.json), on the same host as URL.
func (s *Server) TLSPort() int { return s.tlsPort }

// LogPath is the file holding the server's stdout and stderr.
func (s *Server) LogPath() string { return s.logPath }

// PID is the server's process id (also its process group id).
func (s *Server) PID() int { return s.proc.PID() }

// StartupTime is how long Start waited from launching the process to the
// first healthy answer.
func (s *Server) StartupTime() time.Duration { return s.startup }

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.proc.Done() }

// Close stops the server's process group (SIGTERM, then SIGKILL after the
// grace period), waits for it, and removes the temp dir Start created. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopWatch)
		s.proc.Stop(s.grace)
		if s.tmpDir != "" {
			if err := os.RemoveAll(s.tmpDir); err != nil {
				s.closeErr = fmt.Errorf("remove kinesis-mock dir: %w", err)
			}
		}
	})
	return s.closeErr
}
