package flush

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestTwoSinksAndSmallTarget: two TD endpoints (one refusing with 400 once
// per object, so those are parked) and a seal target so small that every
// staged object becomes its own sealed object.
func TestTwoSinksAndSmallTarget(t *testing.T) {
	e := newTestEnv(t)
	e.cfg.SealTargetBytes = 1
	good, bad := newTDReceiver(t), newTDReceiver(t)
	bad.fail = []int{400, 400, 400}
	ctx := context.Background()
	e.stage(t, "db_one", "tbl_a", hourT-3600, false, "p1", "a1", "a2")
	e.stage(t, "db_one", "tbl_a", hourT-3600, false, "p2", "b1")
	e.stage(t, "db_one", "tbl_a", hourT-7200, false, "p3", "c1")
	want := []string{"a1", "a2", "b1", "c1"}
	res, err := e.handler(t, time.Unix(hourT, 0), []Sink{good.sink(), bad.sink()}).Handle(ctx, forced)
	if err != nil {
		t.Fatal(err)
	}
	if res.SealedObjects != 3 || res.Parked != 3 {
		t.Errorf("result = %+v, want 3 sealed objects and 3 parked", res)
	}
	if got := e.keys(t, "data/"); len(got) != 3 {
		t.Errorf("data objects = %v", got)
	}
	if got := good.msgs(t); !slices.Equal(got, want) {
		t.Errorf("good sink = %v, want %v", got, want)
	}
	if got := bad.msgs(t); len(got) != 0 {
		t.Errorf("refusing sink stored %v", got)
	}
	if got := e.sealedMsgs(t); !slices.Equal(got, want) {
		t.Errorf("sealed = %v, want %v", got, want)
	}
	if got := e.keys(t, "failed/"); len(got) != 3 {
		t.Errorf("failed = %v", got)
	}
}
