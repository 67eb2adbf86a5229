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
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
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
	billedMs, initMs, cpuMicros                                                                   atomic.Int64
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
