package lake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/shared/lake"
)

func TestAppendCrashPoints(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	tests := []struct {
		point         string
		wantDuplicate bool // the resumed call finds the seal committed
	}{
		{lake.FaultDataWritten, false},
		{lake.FaultCommitted, true},
	}
	for _, tc := range tests {
		t.Run(tc.point, func(t *testing.T) {
			tbl := "crash_" + map[string]string{lake.FaultDataWritten: "written", lake.FaultCommitted: "committed"}[tc.point]
			records, want := gen(0, 300, 2)
			crash := &crashAt{point: tc.point}
			_, err := r.lake(t, func(c *lake.Config) { c.Fault = crash.fault }).Append(ctx, db, tbl, "seal-x", stream(t, records))
			if !errors.Is(err, errCrash) {
				t.Fatalf("append with a crash at %s: %v", tc.point, err)
			}
			res, err := r.lake(t, nil).Append(ctx, db, tbl, "seal-x", stream(t, records))
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if res.Duplicate != tc.wantDuplicate {
				t.Fatalf("resume = %+v, want Duplicate %v", res, tc.wantDuplicate)
			}
			diffRows(t, r.rows(t, db, tbl, 0), canon(want))
		})
	}
}

// TestCompactCrashPoints crashes a compaction of two groups (four files
// of 100 rows, CompactMaxRows 250) at each fault point of its second
// group: the first group stays committed, the rows stay exact, and a
// later Compact finishes the hour.
func TestCompactCrashPoints(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	bounded := func(c *lake.Config) { c.CompactMaxRows = 250 }
	for _, point := range []string{lake.FaultDataWritten, lake.FaultCommitted} {
		t.Run(point, func(t *testing.T) {
			tbl := map[string]string{lake.FaultDataWritten: "cmp_written", lake.FaultCommitted: "cmp_committed"}[point]
			want := appendSeals(t, r.lake(t, nil), db, tbl, 4, 100)
			crash := &crashAt{point: point, skip: 1}
			res, err := r.lake(t, func(c *lake.Config) { bounded(c); c.Fault = crash.fault }).Compact(ctx, db, tbl, time.Unix(hourBase, 0), 0, nil)
			if !errors.Is(err, errCrash) {
				t.Fatalf("compact with a crash at the second %s: %+v, %v", point, res, err)
			}
			// 4 + 1 files; the first group (2 -> 1) committed, and the
			// second too when the crash came after its commit.
			wantMid := map[string]int{lake.FaultDataWritten: 4, lake.FaultCommitted: 3}[point]
			if got := len(r.files(t, db, tbl)); got != wantMid {
				t.Fatalf("%d files after the crash, want %d", got, wantMid)
			}
			diffRows(t, r.rows(t, db, tbl, 0), canon(want))
			res, err = r.lake(t, bounded).Compact(ctx, db, tbl, time.Unix(hourBase, 0), 0, nil)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if wantCommits := map[string]int{lake.FaultDataWritten: 1, lake.FaultCommitted: 0}[point]; res.Commits != wantCommits {
				t.Fatalf("resume = %+v after a crash at %s, want %d commits", res, point, wantCommits)
			}
			if got := len(r.files(t, db, tbl)); got != 3 {
				t.Fatalf("%d files after resume, want 3 (two groups' files and the next hour's)", got)
			}
			diffRows(t, r.rows(t, db, tbl, 0), canon(want))
		})
	}
}
