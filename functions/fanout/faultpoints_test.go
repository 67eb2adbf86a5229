package fanout

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestFaultPointsReached checks that FaultPoints is exactly the list of
// points a clean batch passes, in order.
func TestFaultPointsReached(t *testing.T) {
	e := newTestEnv(t)
	var seen []string
	h := e.handler(t, time.Unix(hourT+1800, 0), WithFault(func(_ context.Context, p string) error {
		seen = append(seen, p)
		return nil
	}))
	if _, err := h.Handle(context.Background(), batchOf(t)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, FaultPoints) {
		t.Errorf("points reached = %v, FaultPoints = %v", seen, FaultPoints)
	}
}
