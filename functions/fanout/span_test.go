package fanout

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
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
