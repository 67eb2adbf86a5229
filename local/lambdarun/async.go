package lambdarun

import (
	"context"
	"fmt"
	"time"
)

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
