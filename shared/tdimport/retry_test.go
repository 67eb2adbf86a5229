package tdimport

import (
	"testing"
	"time"
)

// TestBackoffWithinMaxBelowMin: a MaxBackoff under MinBackoff (a forwarder
// with output.max_backoff 100ms, say) caps every wait at MaxBackoff; it
// panicked in rand.N with a negative range.
func TestBackoffWithinMaxBelowMin(t *testing.T) {
	p := RetryPolicy{MinBackoff: 200 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	for n := 1; n <= 30; n++ {
		if d := p.Backoff(n, nil); d < 0 || d > p.MaxBackoff {
			t.Fatalf("Backoff(%d) = %v, want within [0, %v]", n, d, p.MaxBackoff)
		}
	}
}
