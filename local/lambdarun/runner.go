// Package lambdarun runs a real Lambda `bootstrap` binary locally: it owns
// the execution environments (child processes) of one function and serves
// each of them the Lambda Runtime API
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
//
// Any aws-lambda-go program built with -tags lambda.norpc works unchanged:
//
//	r, err := lambdarun.New(lambdarun.Config{
//		Name:   "spillway-ingest",
//		Binary: "dist/amd64/ingest/bootstrap",
//		Env:    map[string]string{"AWS_ENDPOINT_URL": edge, "AWS_ACCESS_KEY_ID": "test", ...},
//		Timeout: 30 * time.Second, Concurrency: 4,
//	})
//	defer r.Close()
//	out, err := r.Invoke(ctx, payload)      // RequestResponse
//	out, fnErr, err := r.InvokeLambda(ctx, payload) // Invoke API shape: fnErr "Unhandled"
//	err = r.InvokeAsync(payload)            // Event: queued, retried twice on error
//	err = r.WaitAsync(ctx)                  // until the async queue is empty
//	err = r.Warm(ctx)                       // start every environment now
//
// FromFunctionConfiguration turns a GetFunctionConfiguration answer (what
// Terraform deployed) into a Config.
//
// Each environment is one process started lazily (a cold start) with its own
// Runtime API listener on 127.0.0.1:<free port>, and runs one invocation at
// a time, like Lambda. Semantics follow Lambda:
//   - a function error (POST .../error) is a *FunctionError;
//   - a timeout kills the process group (the next invocation cold-starts) and
//     returns a *FunctionError of type "Sandbox.Timedout" wrapping ErrTimeout;
//   - a process that exits mid-invocation returns a *FunctionError of type
//     "Runtime.ExitError" wrapping ErrExited, and the environment restarts
//     lazily;
//   - payloads above 6 MB (sync) / 1 MB (async) fail with ErrPayloadTooLarge.
//
// Cold start time (process start to its first /next) is logged as
// "cold start" with init_duration_ms, and summed in Stats.
package lambdarun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillwayhq/spillway/local/proc"
)

// Sentinel errors. Use errors.Is.
var (
	// ErrTimeout is wrapped by the *FunctionError of an invocation that ran
	// past Config.Timeout (or a cold start past Config.InitTimeout).
	ErrTimeout = errors.New("task timed out")
	// ErrExited is wrapped by the *FunctionError of an invocation whose
	// process exited (crash, os.Exit, panic) before it answered.
	ErrExited = errors.New("runtime exited")
	// ErrClosed is returned by invocations after Close.
	ErrClosed = errors.New("runner closed")
	// ErrThrottled is returned when Config.Throttle is set and every
	// environment is busy (Lambda's TooManyRequestsException).
	ErrThrottled = errors.New("rate exceeded: all execution environments busy")
	// ErrPayloadTooLarge is returned for a request or response above the
	// Lambda payload limits.
	ErrPayloadTooLarge = errors.New("payload too large")
)

// FunctionError is the error a function reported, or the error Lambda
// reports for it (timeout, runtime exit). Payload is the JSON document Lambda's
// Invoke API returns as the response body in that case
// ({"errorMessage":...,"errorType":...}).
type FunctionError struct {
	Type    string
	Message string
	Payload []byte
	cause   error
}

// Error implements error.
func (e *FunctionError) Error() string {
	if e.Type == "" {
		return "function error: " + e.Message
	}
	return "function error: " + e.Type + ": " + e.Message
}

// Unwrap returns ErrTimeout or ErrExited for errors raised by the runner, nil
// for errors the function reported.
func (e *FunctionError) Unwrap() error { return e.cause }

// Stats are counters since New. ColdStartTotal / ColdStarts is the mean
// cold start.
type Stats struct {
	Invocations    int64         // started synchronous and asynchronous attempts
	Errors         int64         // invocations that ended in a *FunctionError
	Timeouts       int64         // of which timeouts
	Exits          int64         // of which runtime exits
	ColdStarts     int64         // processes that reached their first /next
	ColdStartTotal time.Duration // sum of cold start durations
	LastColdStart  time.Duration // the latest cold start duration
	AsyncQueued    int64         // InvokeAsync calls accepted
	AsyncFailed    int64         // async events dropped after all retries
}

// Runner runs one function's execution environments. Its methods are safe
// for concurrent use.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	logs   *syncWriter
	envs   []*environment
	pool   chan *environment
	closed chan struct{}
	once   sync.Once

	asyncWG   sync.WaitGroup
	asyncMu   sync.Mutex
	asyncN    int
	asyncIdle chan struct{} // closed when asyncN drops to 0; replaced when it rises

	invocations, errs, timeouts, exits, coldStarts, coldTotal, lastCold, asyncQueued, asyncFailed atomic.Int64
}

// New validates cfg (after Defaults), opens one Runtime API listener per
// environment and returns the runner. No process starts before the first
// invocation (or Warm).
func New(cfg Config) (*Runner, error) {
	cfg = Defaults(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lambdarun config: %w", err)
	}
	bin, err := filepath.Abs(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("lambdarun binary path: %w", err)
	}
	cfg.Binary = bin
	r := &Runner{
		cfg:       cfg,
		log:       cfg.Logger.With("function", cfg.Name),
		logs:      &syncWriter{w: cfg.Logs},
		pool:      make(chan *environment, cfg.Concurrency),
		closed:    make(chan struct{}),
		asyncIdle: make(chan struct{}),
	}
	close(r.asyncIdle)
	for i := range cfg.Concurrency {
		e, err := newEnvironment(r, i)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.envs = append(r.envs, e)
		r.pool <- e
	}
	return r, nil
}

// FunctionARN is the ARN the runner reports as the invoked function ARN.
func (r *Runner) FunctionARN() string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", r.cfg.Region, r.cfg.AccountID, r.cfg.Name)
}

// Config returns the effective configuration (with defaults).
func (r *Runner) Config() Config { return r.cfg }

// Stats returns a snapshot of the counters.
func (r *Runner) Stats() Stats {
	return Stats{
		Invocations:    r.invocations.Load(),
		Errors:         r.errs.Load(),
		Timeouts:       r.timeouts.Load(),
		Exits:          r.exits.Load(),
		ColdStarts:     r.coldStarts.Load(),
		ColdStartTotal: time.Duration(r.coldTotal.Load()),
		LastColdStart:  time.Duration(r.lastCold.Load()),
		AsyncQueued:    r.asyncQueued.Load(),
		AsyncFailed:    r.asyncFailed.Load(),
	}
}

// Warm starts every environment that is not running and waits until each
// has asked for its first invocation (or failed), like provisioned
// concurrency.
func (r *Runner) Warm(ctx context.Context) error {
	var errs []error
	for range r.envs {
		e, err := r.acquire(ctx, false)
		if err != nil {
			return err
		}
		defer r.release(e)
		if err := e.ensureStarted(); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := e.waitReady(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Invoke runs one synchronous (RequestResponse) invocation and returns the
// function's response. Function errors, timeouts and crashes are
// *FunctionError. If ctx ends first, Invoke returns ctx.Err() while the
// invocation runs on to completion in its environment, as on Lambda.
func (r *Runner) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if len(payload) > MaxSyncPayload {
		return nil, fmt.Errorf("invoke %s: request of %d bytes: %w", r.cfg.Name, len(payload), ErrPayloadTooLarge)
	}
	return r.invoke(ctx, payload, r.cfg.Throttle)
}

func (r *Runner) invoke(ctx context.Context, payload []byte, throttle bool) ([]byte, error) {
	e, err := r.acquire(ctx, throttle)
	if err != nil {
		return nil, err
	}
	inv := &invocation{
		id:      newRequestID(),
		payload: payload,
		done:    make(chan result, 1),
	}
	type out struct {
		b   []byte
		err error
	}
	res := make(chan out, 1)
	go func() {
		b, err := e.run(ctx, inv)
		r.release(e)
		res <- out{b, err}
	}()
	select {
	case o := <-res:
		return o.b, o.err
	case <-ctx.Done():
		return nil, fmt.Errorf("invoke %s: %w", r.cfg.Name, ctx.Err())
	}
}

// InvokeAsync queues an asynchronous (Event) invocation and returns at
// once. A failed attempt is retried AsyncRetries times, waiting
// AsyncRetryDelay, then twice that; an event that still fails is logged and
// counted in Stats.AsyncFailed. Close abandons queued events.
func (r *Runner) InvokeAsync(payload []byte) error {
	if len(payload) > MaxAsyncPayload {
		return fmt.Errorf("invoke async %s: event of %d bytes: %w", r.cfg.Name, len(payload), ErrPayloadTooLarge)
	}
	select {
	case <-r.closed:
		return fmt.Errorf("invoke async %s: %w", r.cfg.Name, ErrClosed)
	default:
	}
	r.asyncQueued.Add(1)
	r.asyncMu.Lock()
	if r.asyncN == 0 {
		r.asyncIdle = make(chan struct{})
	}
	r.asyncN++
	r.asyncMu.Unlock()
	r.asyncWG.Add(1)
	body := append([]byte(nil), payload...)
	go func() {
		defer r.asyncWG.Done()
		defer func() {
			r.asyncMu.Lock()
			r.asyncN--
			if r.asyncN == 0 {
				close(r.asyncIdle)
			}
			r.asyncMu.Unlock()
		}()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-r.closed:
				cancel()
			case <-ctx.Done():
			}
		}()
		delay := r.cfg.AsyncRetryDelay
		for attempt := 0; ; attempt++ {
			_, err := r.invoke(ctx, body, false)
			if err == nil {
				return
			}
			if attempt >= r.cfg.AsyncRetries || ctx.Err() != nil {
				r.asyncFailed.Add(1)
				r.log.Error("async invocation failed", "attempts", attempt+1, "error", err.Error())
				return
			}
			r.log.Warn("async invocation failed, retrying", "attempt", attempt+1, "retry_in", delay.String(), "error", err.Error())
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				r.asyncFailed.Add(1)
				return
			}
			delay *= 2
		}
	}()
	return nil
}

// WaitAsync blocks until no asynchronous invocation is queued or running,
// or ctx ends.
func (r *Runner) WaitAsync(ctx context.Context) error {
	r.asyncMu.Lock()
	idle := r.asyncIdle
	r.asyncMu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for async invocations of %s: %w", r.cfg.Name, ctx.Err())
	}
}

// Close kills every process (its whole process group), waits for them,
// closes the Runtime API listeners and abandons queued async events.
// It is safe to call more than once.
func (r *Runner) Close() error {
	r.once.Do(func() {
		close(r.closed)
		for _, e := range r.envs {
			e.shutdown()
		}
		r.asyncWG.Wait()
	})
	return nil
}

func (r *Runner) acquire(ctx context.Context, throttle bool) (*environment, error) {
	select {
	case <-r.closed:
		return nil, fmt.Errorf("invoke %s: %w", r.cfg.Name, ErrClosed)
	default:
	}
	if throttle {
		select {
		case e := <-r.pool:
			return e, nil
		default:
			return nil, fmt.Errorf("invoke %s: %w", r.cfg.Name, ErrThrottled)
		}
	}
	select {
	case e := <-r.pool:
		return e, nil
	case <-r.closed:
		return nil, fmt.Errorf("invoke %s: %w", r.cfg.Name, ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("invoke %s: wait for an execution environment: %w", r.cfg.Name, ctx.Err())
	}
}

func (r *Runner) release(e *environment) { r.pool <- e }

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

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan result
}

type result struct {
	body []byte
	err  *FunctionError
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

// run dispatches inv to this environment's process and waits for its
// outcome. The caller holds the environment.
func (e *environment) run(ctx context.Context, inv *invocation) ([]byte, error) {
	r := e.r
	e.mu.Lock()
	e.inflight[inv.id] = inv
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.inflight, inv.id)
		e.mu.Unlock()
	}()
	var exited chan struct{}
	// Dispatch: hand the invocation to a waiting GET /next. A process that
	// exits between invocations (e.g. after a panic it reported) is
	// replaced once; one that exits during its init is the invocation's error.
	for attempt := 0; ; attempt++ {
		if err := e.ensureStarted(); err != nil {
			return nil, fmt.Errorf("invoke %s: %w", r.cfg.Name, err)
		}
		e.mu.Lock()
		exited = e.exited
		started, ready := e.started, e.ready
		wasReady := e.isReady
		e.mu.Unlock()
		limit := started.Add(r.cfg.InitTimeout)
		if wasReady {
			limit = time.Now().Add(r.cfg.InitTimeout)
		}
		initTimer := time.NewTimer(time.Until(limit))
		select {
		case e.next <- inv:
			initTimer.Stop()
		case <-exited:
			initTimer.Stop()
			select {
			case <-ready:
				if attempt == 0 {
					continue
				}
			default:
			}
			return nil, r.fail(e.exitError(inv.id))
		case <-initTimer.C:
			e.kill()
			return nil, r.fail(e.timeoutError(inv.id, r.cfg.InitTimeout))
		case <-ctx.Done():
			initTimer.Stop()
			return nil, fmt.Errorf("invoke %s: %w", r.cfg.Name, ctx.Err())
		case <-r.closed:
			initTimer.Stop()
			return nil, fmt.Errorf("invoke %s: %w", r.cfg.Name, ErrClosed)
		}
		break
	}
	r.invocations.Add(1)
	start := time.Now()
	timer := time.NewTimer(r.cfg.Timeout)
	defer timer.Stop()
	select {
	case res := <-inv.done:
		r.log.Debug("invocation done", "request_id", inv.id, "duration_ms", ms(time.Since(start)), "error", res.err != nil)
		if res.err != nil {
			return nil, r.fail(res.err)
		}
		if len(res.body) > MaxSyncPayload {
			return nil, r.fail(&FunctionError{
				Type:    "Function.ResponseSizeTooLarge",
				Message: fmt.Sprintf("Response payload size (%d bytes) exceeded maximum allowed payload size (%d bytes).", len(res.body), MaxSyncPayload),
				cause:   ErrPayloadTooLarge,
			})
		}
		return res.body, nil
	case <-exited:
		// The answer may have raced with the exit.
		select {
		case res := <-inv.done:
			if res.err != nil {
				return nil, r.fail(res.err)
			}
			return res.body, nil
		default:
		}
		return nil, r.fail(e.exitError(inv.id))
	case <-timer.C:
		e.kill()
		return nil, r.fail(e.timeoutError(inv.id, r.cfg.Timeout))
	case <-r.closed:
		return nil, fmt.Errorf("invoke %s: %w", r.cfg.Name, ErrClosed)
	}
}

func (r *Runner) fail(fe *FunctionError) error {
	r.errs.Add(1)
	switch {
	case errors.Is(fe, ErrTimeout):
		r.timeouts.Add(1)
	case errors.Is(fe, ErrExited):
		r.exits.Add(1)
	}
	if fe.Payload == nil {
		fe.Payload = errorPayload(fe.Type, fe.Message)
	}
	return fe
}

func (e *environment) timeoutError(id string, d time.Duration) *FunctionError {
	e.r.log.Warn("task timed out, process killed", "request_id", id, "env", e.idx, "timeout", d.String())
	return &FunctionError{
		Type:    "Sandbox.Timedout",
		Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", id, d.Seconds()),
		cause:   ErrTimeout,
	}
}

func (e *environment) exitError(id string) *FunctionError {
	e.mu.Lock()
	exitErr, initErr := e.exitErr, e.initErr
	e.mu.Unlock()
	status := "exit status 0"
	if exitErr != nil {
		status = exitErr.Error()
	}
	e.r.log.Warn("runtime exited", "request_id", id, "env", e.idx, "status", status)
	msg := fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", id, status)
	typ := "Runtime.ExitError"
	if initErr != nil {
		typ = initErr.Type
		msg = initErr.Message
	}
	return &FunctionError{Type: typ, Message: msg, cause: ErrExited}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func newTraceID(now time.Time) string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", now.Unix(), hex.EncodeToString(b[:12]), hex.EncodeToString(b[12:]))
}

// InvokeLambda runs a synchronous invocation with the Lambda Invoke API's
// result shape, for servers that front the runner (the edge): on a
// function error (including timeouts and crashes) it returns the error
// document as payload, functionError "Unhandled" and a nil error; err is
// reserved for failures to invoke at all (throttled, closed, ctx, payload
// too large).
func (r *Runner) InvokeLambda(ctx context.Context, payload []byte) (out []byte, functionError string, err error) {
	out, err = r.Invoke(ctx, payload)
	var fe *FunctionError
	if errors.As(err, &fe) {
		return fe.Payload, "Unhandled", nil
	}
	return out, "", err
}
