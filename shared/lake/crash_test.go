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

func TestCompactCrashPoints(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	for _, point := range []string{lake.FaultDataWritten, lake.FaultCommitted} {
		t.Run(point, func(t *testing.T) {
			tbl := map[string]string{lake.FaultDataWritten: "cmp_written", lake.FaultCommitted: "cmp_committed"}[point]
			want := appendSeals(t, r.lake(t, nil), db, tbl, 3, 100)
			before := r.files(t, db, tbl)
			crash := &crashAt{point: point}
			_, err := r.lake(t, func(c *lake.Config) { c.Fault = crash.fault }).Compact(ctx, db, tbl, time.Unix(hourBase, 0), 0)
			if !errors.Is(err, errCrash) {
				t.Fatalf("compact with a crash at %s: %v", point, err)
			}
			mid := r.files(t, db, tbl)
			if point == lake.FaultDataWritten && len(mid) != len(before) {
				t.Fatalf("crash before commit changed the table: %d files -> %d", len(before), len(mid))
			}
			diffRows(t, r.rows(t, db, tbl, 0), canon(want))
			res, err := r.lake(t, nil).Compact(ctx, db, tbl, time.Unix(hourBase, 0), 0)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if compacted := res.SnapshotID != 0; compacted != (point == lake.FaultDataWritten) {
				t.Fatalf("resume = %+v after a crash at %s", res, point)
			}
			if got := len(r.files(t, db, tbl)); got != 2 {
				t.Fatalf("%d files after resume, want 2", got)
			}
			diffRows(t, r.rows(t, db, tbl, 0), canon(want))
		})
	}
}
