package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestEqual(t *testing.T) {
	for _, tc := range []struct {
		name        string
		base, limit time.Duration
		n           int
		lo, hi      time.Duration
	}{
		{"first", 20 * time.Millisecond, time.Second, 0, 10 * time.Millisecond, 20 * time.Millisecond},
		{"doubled", 20 * time.Millisecond, time.Second, 3, 80 * time.Millisecond, 160 * time.Millisecond},
		{"capped", 20 * time.Millisecond, time.Second, 10, 500 * time.Millisecond, time.Second},
		{"overflow is the limit", time.Hour, 10 * time.Minute, 1000, 5 * time.Minute, 10 * time.Minute},
		{"negative n is the first", time.Second, time.Minute, -3, 500 * time.Millisecond, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 200 {
				if d := Equal(tc.base, tc.limit, tc.n); d < tc.lo || d > tc.hi {
					t.Fatalf("Equal(%s, %s, %d) = %s, want within [%s, %s]", tc.base, tc.limit, tc.n, d, tc.lo, tc.hi)
				}
			}
		})
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep(1ms) = %v", err)
	}
}
