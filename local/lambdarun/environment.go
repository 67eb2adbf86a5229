package lambdarun

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/spillwayhq/spillway/local/proc"
)

// environment is one execution environment: a Runtime API listener and at
// most one process at a time.
type environment struct {
	r    *Runner
	idx  int
	addr string
	srv  *http.Server
	next chan *invocation // taken by GET /next

	mu       sync.Mutex
	proc     *proc.Process
	exited   chan struct{} // closed when the current process has exited
	exitErr  error
	started  time.Time
	ready    chan struct{} // closed at the first /next of the current process
	isReady  bool
	inflight map[string]*invocation
	initErr  *FunctionError
}

func newEnvironment(r *Runner, idx int) (*environment, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for runtime api: %w", err)
	}
	e := &environment{
		r:        r,
		idx:      idx,
		addr:     ln.Addr().String(),
		next:     make(chan *invocation),
		inflight: map[string]*invocation{},
	}
	e.srv = &http.Server{Handler: e.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

// ensureStarted starts a process if none is running.
func (e *environment) ensureStarted() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc != nil {
		return nil
	}
	cfg := e.r.cfg
	cmd := exec.Command(cfg.Binary)
	cmd.Dir = filepath.Dir(cfg.Binary)
	cmd.Env = e.environ()
	cmd.Stdout = e.r.logs
	cmd.Stderr = e.r.logs
	p, err := proc.Start(cmd, proc.Options{})
	if err != nil {
		return err
	}
	e.proc = p
	e.started = time.Now()
	e.exited = make(chan struct{})
	e.exitErr = nil
	e.ready = make(chan struct{})
	e.isReady = false
	e.initErr = nil
	exited := e.exited
	go func() {
		<-p.Done()
		e.mu.Lock()
		e.exitErr = p.Err()
		if e.proc == p {
			e.proc = nil
		}
		e.mu.Unlock()
		close(exited)
	}()
	return nil
}

func (e *environment) environ() []string {
	cfg := e.r.cfg
	env := map[string]string{}
	if cfg.InheritEnv {
		for _, kv := range os.Environ() {
			for i := 0; i < len(kv); i++ {
				if kv[i] == '=' {
					env[kv[:i]] = kv[i+1:]
					break
				}
			}
		}
	} else {
		env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
		env["LANG"] = "en_US.UTF-8"
		env["TZ"] = ":UTC"
	}
	for k, v := range cfg.Env {
		env[k] = v
	}
	dir := filepath.Dir(cfg.Binary)
	for k, v := range map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          e.addr,
		"AWS_LAMBDA_FUNCTION_NAME":        cfg.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(cfg.MemoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION":     cfg.Version,
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + cfg.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      fmt.Sprintf("%s/[%s]local%d", time.Now().UTC().Format("2006/01/02"), cfg.Version, e.idx),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      cfg.Region,
		"AWS_DEFAULT_REGION":              cfg.Region,
		"_HANDLER":                        filepath.Base(cfg.Binary),
		"LAMBDA_TASK_ROOT":                dir,
		"LAMBDA_RUNTIME_DIR":              dir,
	} {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// pid is the current process's id (0 when none runs).
func (e *environment) pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc == nil {
		return 0
	}
	return e.proc.PID()
}

// kill kills the current process group and waits for the process to exit.
func (e *environment) kill() {
	e.mu.Lock()
	p, exited := e.proc, e.exited
	e.mu.Unlock()
	if p == nil {
		return
	}
	p.Kill()
	<-exited
}

func (e *environment) shutdown() {
	e.kill()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		_ = e.srv.Close()
	}
}

// waitReady waits for the first /next of the current process.
func (e *environment) waitReady(ctx context.Context) error {
	e.mu.Lock()
	ready, exited, started := e.ready, e.exited, e.started
	e.mu.Unlock()
	t := time.NewTimer(time.Until(started.Add(e.r.cfg.InitTimeout)))
	defer t.Stop()
	select {
	case <-ready:
		return nil
	case <-exited:
		return e.exitError("")
	case <-t.C:
		e.kill()
		return e.timeoutError("", e.r.cfg.InitTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}
