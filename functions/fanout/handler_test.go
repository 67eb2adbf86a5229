package fanout

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

var errCrash = errors.New("simulated crash")

// hourT is 2026-11-22T10:00:00Z.
const hourT = int64(1795341600)

func batchOf(tb testing.TB) events.KinesisEvent {
	tb.Helper()
	return events.KinesisEvent{Records: []events.KinesisEventRecord{
		mkRecord(tb, "db_one", "tbl_a", "u1", 0, 2, 1, hourT+1, hourT+2, hourT+3600+5),
		mkRecord(tb, "db_one", "tbl_a", "u1", 1, 2, 2, hourT+10),
		mkRecord(tb, "db_one", "tbl_b", "u2", 0, 1, 3, hourT+20, hourT+30),
	}}
}

func wantMsgs() []string {
	return []string{"u1-0-0", "u1-0-1", "u1-0-2", "u1-1-0", "u2-0-0", "u2-0-1"}
}

func TestHandleExactlyOnce(t *testing.T) {
	now := time.Unix(hourT+1800, 0)
	cases := []struct {
		name  string
		crash string // fault point of the first delivery; "" = no crash, delivered twice
	}{
		{"duplicate delivery", ""},
		{"crash after-decode", "after-decode"},
		{"crash after-stage-s3", "after-stage-s3"},
		{"crash after-catalog-bounds", "after-catalog-bounds"},
		{"crash after-commit", "after-commit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			ctx := context.Background()
			first := e.handler(t, now, WithFault(func(_ context.Context, p string) error {
				if p == tc.crash {
					return errCrash
				}
				return nil
			}))
			resp, err := first.Handle(ctx, batchOf(t))
			if tc.crash != "" && !errors.Is(err, errCrash) {
				t.Fatalf("first delivery: err = %v, want crash", err)
			}
			if tc.crash == "" && (err != nil || len(resp.BatchItemFailures) != 0) {
				t.Fatalf("first delivery: %v %+v", err, resp)
			}
			resp, err = e.handler(t, now.Add(time.Minute)).Handle(ctx, batchOf(t))
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("redelivery: %v %+v", err, resp)
			}
			a, b := e.catalog(t, "db_one", "tbl_a"), e.catalog(t, "db_one", "tbl_b")
			if a.Count != 4 || b.Count != 2 {
				t.Fatalf("counts = %d, %d; want 4, 2", a.Count, b.Count)
			}
			if a.Min != hourT+1 || a.Max != hourT+3600+5 {
				t.Errorf("tbl_a bounds = %d..%d", a.Min, a.Max)
			}
			if got := e.stagedEvents(t, "staged/"); !slices.Equal(got, wantMsgs()) {
				t.Errorf("staged events = %v, want %v", got, wantMsgs())
			}
			// Parts u1.0 and u1.1 commit in one transaction: one staged
			// object per hour.
			if n, evs := e.stagedItems(t, "db_one", "tbl_a"); n != 2 || evs != 4 {
				t.Errorf("tbl_a staged items = %d (%d events), want 2 (4)", n, evs)
			}
			if a.Bytes <= 0 {
				t.Errorf("tbl_a bytes = %d", a.Bytes)
			}
			if a.Schema["msg"] != TypeString || a.Schema["n"] != TypeLong {
				t.Errorf("schema = %v", a.Schema)
			}
		})
	}
}

func TestHandleQuarantineLateFuture(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	// Hour hourT-3600 ended 30 minutes ago, past the 10-minute late window:
	// its event is late, staged with the others and counted as late.
	now := time.Unix(hourT+1800, 0)
	ev := events.KinesisEvent{Records: []events.KinesisEventRecord{
		rawRecord(1, []byte("garbage")),
		mkRecord(t, "db_one", "tbl_a", "u9", 0, 1, 2, hourT-3600+5, hourT+5, hourT+7200+10),
		mkRecord(t, "Bad-DB", "tbl_a", "u8", 0, 1, 3, hourT),
	}}
	resp, err := e.handler(t, now).Handle(ctx, ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %+v", err, resp)
	}
	if got := e.keys(t, "quarantine/records/"); len(got) != 2 {
		t.Errorf("quarantined records = %v, want 2", got)
	}
	if got := e.stagedEvents(t, "staged/"); !slices.Equal(got, []string{"u9-0-0", "u9-0-1"}) {
		t.Errorf("staged = %v, want the late and the current event", got)
	}
	if got := e.keys(t, "late/"); len(got) != 0 {
		t.Errorf("late/ = %v, want nothing (late events are staged like any other)", got)
	}
	if got := e.stagedEvents(t, "quarantine/future/"); !slices.Equal(got, []string{"u9-0-2"}) {
		t.Errorf("future = %v", got)
	}
	c := e.catalog(t, "db_one", "tbl_a")
	if c.Count != 2 || c.Late != 1 || c.Future != 1 {
		t.Errorf("catalog = %+v, want count 2 late 1 future 1", c)
	}
}

func TestHandleAutoCreateOff(t *testing.T) {
	e := newTestEnv(t)
	e.cfg.AutoCreate = false
	ctx := context.Background()
	resp, err := e.handler(t, time.Unix(hourT, 0)).Handle(ctx, batchOf(t))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %+v", err, resp)
	}
	if got := e.keys(t, "quarantine/records/"); len(got) != 3 {
		t.Errorf("quarantined = %v, want 3", got)
	}
	if got := e.keys(t, "staged/"); len(got) != 0 {
		t.Errorf("staged = %v, want none", got)
	}
}
