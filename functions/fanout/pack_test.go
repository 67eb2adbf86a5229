package fanout

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TestPackStagesOneObjectPerHour: a batch of many small parts of one table
// stages one object per hour (one S3 PUT, one staged item) holding every
// event once, in batch order; delivering the batch again stages nothing
// new; a batch whose parts are partly committed stages the rest under a
// new name.
func TestPackStagesOneObjectPerHour(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	now := time.Unix(hourT+1800, 0)
	batch := func(from, to int) events.KinesisEvent {
		var ev events.KinesisEvent
		for i := from; i < to; i++ {
			// Two events each: one in the previous hour, one in this one.
			ev.Records = append(ev.Records, mkRecord(t, "db_one", "tbl_a", fmt.Sprintf("u%02d", i), 0, 1, i+1, hourT-60, hourT+int64(i)))
		}
		return ev
	}
	handle := func(ev events.KinesisEvent) {
		t.Helper()
		resp, err := e.handler(t, now).Handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("handle: %v %+v", err, resp)
		}
	}
	handle(batch(0, 30))
	keys := e.keys(t, "staged/")
	if len(keys) != 2 {
		t.Fatalf("staged objects = %v, want 2 (one per hour)", keys)
	}
	if items, evs := e.stagedItems(t, "db_one", "tbl_a"); items != 2 || evs != 60 {
		t.Errorf("staged items = %d holding %d events, want 2 holding 60", items, evs)
	}
	var want []string
	for i := range 30 {
		want = append(want, fmt.Sprintf("u%02d-0-0", i), fmt.Sprintf("u%02d-0-1", i))
	}
	slices.Sort(want)
	if got := e.stagedEvents(t, "staged/"); !slices.Equal(got, want) {
		t.Errorf("staged events = %v, want %v", got, want)
	}

	handle(batch(0, 30)) // redelivered: every part is in the ledger
	if got := e.keys(t, "staged/"); !slices.Equal(got, keys) {
		t.Errorf("after redelivery staged objects = %v, want %v", got, keys)
	}
	handle(batch(20, 40)) // parts 20-29 committed, 30-39 new
	if got := e.keys(t, "staged/"); len(got) != 4 {
		t.Errorf("staged objects = %v, want 4", got)
	}
	if items, evs := e.stagedItems(t, "db_one", "tbl_a"); items != 4 || evs != 80 {
		t.Errorf("staged items = %d holding %d events, want 4 holding 80", items, evs)
	}
	if c := e.catalog(t, "db_one", "tbl_a"); c.Count != 80 {
		t.Errorf("catalog count %d, want 80", c.Count)
	}
}
