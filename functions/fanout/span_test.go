package fanout

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/spillwayhq/spillway/shared/envelope"
)

// TestLongSpanPartCommittedInChunks: a part whose events span more hours
// than one transaction can stage (a backfill read from the head of a quiet
// log) is committed in deterministic chunks, each under its own ledger
// entry, instead of being quarantined; a redelivery commits nothing twice.
func TestLongSpanPartCommittedInChunks(t *testing.T) {
	cases := []struct {
		name  string
		hours int
	}{
		{"one transaction", maxStagedPerPart},
		{"two chunks", maxStagedPerPart + 1},
		{"two full chunks", 2 * (maxStagedPerPart - 1)},
		{"three chunks", 2*maxStagedPerPart + 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			ctx := context.Background()
			now := time.Unix(hourT+1800, 0)
			var times []int64
			for h := range tc.hours {
				times = append(times, hourT-int64(h)*3600+7)
			}
			ev := events.KinesisEvent{Records: []events.KinesisEventRecord{mkRecord(t, "db_one", "tbl_a", "backfill", 0, 1, 1, times...)}}
			for run := range 2 { // the second is an ESM redelivery
				resp, err := e.handler(t, now).Handle(ctx, ev)
				if err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("run %d: %v %+v", run, err, resp)
				}
			}
			if got := e.keys(t, "quarantine/"); len(got) != 0 {
				t.Fatalf("quarantined %v", got)
			}
			items, evs := e.stagedItems(t, "db_one", "tbl_a")
			if items != tc.hours || evs != tc.hours {
				t.Errorf("staged items %d with %d events, want %d each", items, evs, tc.hours)
			}
			if c := e.catalog(t, "db_one", "tbl_a"); c.Count != int64(tc.hours) {
				t.Errorf("catalog count %d, want %d", c.Count, tc.hours)
			}
		})
	}
}

// TestPackedCommitDropsCommittedParts: a redelivered batch that mixes
// parts committed before with new ones (one transaction for the table)
// commits the new ones once and counts nothing twice.
func TestPackedCommitDropsCommittedParts(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	now := time.Unix(hourT+60, 0)
	rec := func(i int) events.KinesisEventRecord {
		return mkRecord(t, "db_one", "tbl_a", fmt.Sprintf("u%02d", i), 0, 1, i+1, hourT+int64(i))
	}
	var first, second events.KinesisEvent
	for i := range 30 {
		if i%3 == 0 {
			first.Records = append(first.Records, rec(i))
		}
		second.Records = append(second.Records, rec(i))
	}
	for _, ev := range []events.KinesisEvent{first, second, second} {
		resp, err := e.handler(t, now).Handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("handle: %v %+v", err, resp)
		}
	}
	if c := e.catalog(t, "db_one", "tbl_a"); c.Count != 30 {
		t.Errorf("catalog count %d, want 30", c.Count)
	}
	// One staged object for the first delivery's 10 parts, one for the
	// second's 20 new ones; the third stages nothing.
	if items, evs := e.stagedItems(t, "db_one", "tbl_a"); items != 2 || evs != 30 {
		t.Errorf("staged items %d with %d events, want 2 with 30", items, evs)
	}
}

// TestCommitPacksDropsCommittedUnits: commitPacks itself (as when two
// invocations race past the ledger pre-check) drops units committed
// before from a packed transaction, stages the rest afresh and commits
// them once.
func TestCommitPacksDropsCommittedUnits(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	now := time.Unix(hourT+60, 0)
	h := e.handler(t, now)
	parts := func(from, to int) []*part {
		var out []*part
		for i := from; i < to; i++ {
			r := mkRecord(t, "db_one", "tbl_a", fmt.Sprintf("u%02d", i), 0, 1, i+1, hourT+int64(i))
			env, err := envelope.Unmarshal(r.Kinesis.Data)
			if err != nil {
				t.Fatal(err)
			}
			evs, schema, err := DecodePayload(env.Encoding, env.Payload, e.cfg.MaxPayload)
			if err != nil {
				t.Fatal(err)
			}
			p := &part{env: env, id: envelope.PartID(env), events: evs, schema: schema}
			if err := p.split(0, hourT+7200); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	early := parts(0, 10)
	if done, failed := h.commitPacks(ctx, packUnits(early), now); len(failed) != 0 || done[early[0]] {
		t.Fatalf("first commit: done %v failed %v", done, failed)
	}
	all := parts(0, 30)
	done, failed := h.commitPacks(ctx, packUnits(all), now)
	if len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	for i, p := range all {
		if done[p] != (i < 10) {
			t.Errorf("part %d: done = %v, want %v", i, done[p], i < 10)
		}
	}
	if c := e.catalog(t, "db_one", "tbl_a"); c.Count != 30 {
		t.Errorf("catalog count %d, want 30", c.Count)
	}
	if items, evs := e.stagedItems(t, "db_one", "tbl_a"); items != 2 || evs != 30 {
		t.Errorf("staged items %d with %d events, want 2 with 30", items, evs)
	}
	if got := e.stagedEvents(t, "staged/"); len(got) != 10+20+30 {
		// The first pack's 10 events, the second's 20, and the 30 of the
		// object staged for the second pack before its duplicates were
		// found (unreferenced: no staged item points to it).
		t.Errorf("events in staged objects = %d, want 60", len(got))
	}
}
