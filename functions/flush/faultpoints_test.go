package flush

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestFaultPointsReached checks that FaultPoints is exactly the list of
// points a clean one-object flush passes, in order.
func TestFaultPointsReached(t *testing.T) {
	e := newTestEnv(t)
	td := newTDReceiver(t)
	e.stage(t, "db_one", "tbl_a", hourT-7200, false, "p1", "a1")
	var seen []string
	h := e.handler(t, time.Unix(hourT, 0), []Sink{td.sink()}, WithFault(func(_ context.Context, p string) error {
		seen = append(seen, p)
		return nil
	}))
	if _, err := h.Handle(context.Background(), forced); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, FaultPoints) {
		t.Errorf("points reached = %v, FaultPoints = %v", seen, FaultPoints)
	}
}
