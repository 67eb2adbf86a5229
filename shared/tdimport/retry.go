package tdimport

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy bounds how a Client retries a request. The zero value means
// DefaultPolicy.
type RetryPolicy struct {
	MaxAttempts int           // attempts in all, the first included; 0 = 8
	MinBackoff  time.Duration // first backoff; 0 = 200ms
	MaxBackoff  time.Duration // cap for one backoff and for an honoured Retry-After; 0 = 30s
}

// DefaultPolicy is the policy used when a Client's Policy is the zero value.
var DefaultPolicy = RetryPolicy{MaxAttempts: 8, MinBackoff: 200 * time.Millisecond, MaxBackoff: 30 * time.Second}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultPolicy.MaxAttempts
	}
	if p.MinBackoff <= 0 {
		p.MinBackoff = DefaultPolicy.MinBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultPolicy.MaxBackoff
	}
	// A cap under the floor lowers the floor: every wait stays within
	// MaxBackoff (and the jitter range stays positive).
	p.MinBackoff = min(p.MinBackoff, p.MaxBackoff)
	return p
}

// Retryable reports whether a response status (or a transport error, with
// status 0) is worth retrying: connection errors, 408, 429 and 5xx except 501.
func Retryable(status int, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return true
	case status == http.StatusNotImplemented:
		return false
	case status >= 500:
		return true
	}
	return false
}

// Backoff returns how long to wait before attempt n (1 = the first retry):
// the server's Retry-After when it gave one (capped), else full-jitter
// exponential backoff.
func (p RetryPolicy) Backoff(n int, resp *http.Response) time.Duration {
	p = p.withDefaults()
	if resp != nil {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return min(d, p.MaxBackoff)
		}
	}
	ceil := p.MinBackoff << min(n-1, 20)
	if ceil <= 0 || ceil > p.MaxBackoff {
		ceil = p.MaxBackoff
	}
	return p.MinBackoff/2 + rand.N(ceil-p.MinBackoff/2+1)
}

// retryAfter parses a Retry-After value: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
