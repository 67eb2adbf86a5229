package lambdarun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

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
	pid := e.pid()
	cpu0, cpuOK := processCPU(pid)
	defer func() {
		r.billedMs.Add(billedMs(time.Since(start)))
		if cpu1, ok := processCPU(pid); ok && cpuOK && cpu1 >= cpu0 {
			r.cpuMicros.Add((cpu1 - cpu0).Microseconds())
		}
	}()
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
