// Package backoff computes retry waits (capped exponential growth with
// "equal jitter") and waits them out under a context. Every retry loop in
// Spillway - AWS transaction conflicts, Kinesis puts, TD imports, the
// forwarder's outputs - uses it, so they all spread out the same way.
// https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Equal is the wait before retry n (0-based): base doubled n times, at most
// limit, then "equal jitter": half of it fixed, half random, so that racing
// clients spread out while none retries at once. A non-positive product
// (overflow) is limit.
func Equal(base, limit time.Duration, n int) time.Duration {
	d := base << min(max(n, 0), 30)
	if d > limit || d <= 0 {
		d = limit
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d, or until ctx ends, in which case it returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
