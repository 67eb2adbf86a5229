package lake_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/spillwayhq/spillway/shared/lake"
)

// manifests returns the number of manifest files the current snapshot of
// db.tbl lists.
func (r *rig) manifests(t testing.TB, lk *lake.Lake, db, tbl string) int {
	t.Helper()
	tb, err := lk.Load(r.ctx(), db, tbl)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := tb.FS(r.ctx())
	if err != nil {
		t.Fatal(err)
	}
	ms, err := tb.CurrentSnapshot().Manifests(fs)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// setProperties commits props to db.tbl and removes the keys in remove.
func (r *rig) setProperties(t testing.TB, lk *lake.Lake, db, tbl string, props iceberg.Properties, remove ...string) {
	t.Helper()
	tb, err := lk.Load(r.ctx(), db, tbl)
	if err != nil {
		t.Fatal(err)
	}
	tx := tb.NewTransaction()
	if len(remove) > 0 {
		if err := tx.RemoveProperties(remove); err != nil {
			t.Fatal(err)
		}
	}
	if len(props) > 0 {
		if err := tx.SetProperties(props); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Commit(r.ctx()); err != nil {
		t.Fatalf("set properties of %s.%s: %v", db, tbl, err)
	}
}

// TestManifestMerge: a table created by an older release (no
// commit.manifest-merge.enabled) gets the property in its next append, and
// from then on appends merge the manifests (min-count-to-merge lowered to
// 3 here, so that a few appends show it): after six appends the current
// snapshot lists at most 2 manifests, not 6, with the same rows.
func TestManifestMerge(t *testing.T) {
	r := newRig(t)
	lk := r.lake(t, nil)
	ctx := context.Background()
	db := uniqueDB()
	var want []map[string]any
	for i := range 6 {
		records, exp := gen(i*50, 50, 1)
		if _, err := lk.Append(ctx, db, "web", "seal-"+strconv.Itoa(i), stream(t, records)); err != nil {
			t.Fatal(err)
		}
		want = append(want, exp...)
		if i == 0 {
			tb, err := lk.Load(r.ctx(), db, "web")
			if err != nil {
				t.Fatal(err)
			}
			if got := tb.Properties()[table.ManifestMergeEnabledKey]; got != "true" {
				t.Fatalf("a new table has %s = %q, want true", table.ManifestMergeEnabledKey, got)
			}
			r.setProperties(t, lk, db, "web", iceberg.Properties{table.ManifestMinMergeCountKey: "3"}, table.ManifestMergeEnabledKey)
		}
	}
	tb, err := lk.Load(r.ctx(), db, "web")
	if err != nil {
		t.Fatal(err)
	}
	if got := tb.Properties()[table.ManifestMergeEnabledKey]; got != "true" {
		t.Errorf("after an append, the older table has %s = %q, want true", table.ManifestMergeEnabledKey, got)
	}
	if got := r.manifests(t, lk, db, "web"); got > 2 {
		t.Errorf("the current snapshot lists %d manifests after 6 appends, want at most 2 (merged)", got)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
	// Compaction, a merging append after it and expiry work on merged
	// manifests: the rows stay exact, their files present.
	if res, err := lk.Compact(ctx, db, "web", time.Unix(hourBase, 0), 0, nil); err != nil || res.FilesBefore != 6 || res.FilesAfter != 1 {
		t.Fatalf("compact over merged manifests = %+v, %v; want 6 files -> 1", res, err)
	}
	records, exp := gen(6*50, 50, 1)
	if _, err := lk.Append(ctx, db, "web", "seal-6", stream(t, records)); err != nil {
		t.Fatal(err)
	}
	want = append(want, exp...)
	if _, err := lk.Expire(ctx, db, "web", time.Now().Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	if got := len(r.files(t, db, "web")); got != 2 {
		t.Errorf("%d data files after compaction, append and expiry, want 2", got)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
}

// BenchmarkManifestGrowth makes 500 appends of 10 events to one table,
// with manifest merging on (the tables' default) and off, and after 10,
// 100 and 500 appends reports the manifests the current snapshot lists and
// the time to plan a scan of the whole table (the median of 5 plans; a
// reader's first step, and what Compact does for an hour). append-ms is
// the mean append over the run.
func BenchmarkManifestGrowth(b *testing.B) {
	const appends = 500
	checkpoints := []int{10, 100, 500}
	for _, merge := range []bool{false, true} {
		b.Run(map[bool]string{false: "merge-off", true: "merge-on"}[merge], func(b *testing.B) {
			r := newRig(b)
			ctx := context.Background()
			records, _ := gen(0, appends*10, 1)
			for b.Loop() {
				db := uniqueDB()
				lk := r.lake(b, nil)
				var appending time.Duration
				for i := range appends {
					start := time.Now()
					if _, err := lk.Append(ctx, db, "web", "s"+strconv.Itoa(i), stream(b, records[i*10:i*10+10])); err != nil {
						b.Fatal(err)
					}
					appending += time.Since(start)
					if i == 0 && !merge {
						r.setProperties(b, lk, db, "web", iceberg.Properties{table.ManifestMergeEnabledKey: "false"})
					}
					if n := i + 1; slices.Contains(checkpoints, n) {
						b.ReportMetric(float64(r.manifests(b, lk, db, "web")), "manifests-"+strconv.Itoa(n))
						b.ReportMetric(r.planMillis(b, lk, db, "web", 5), "plan-ms-"+strconv.Itoa(n))
					}
				}
				b.ReportMetric(float64(appending.Milliseconds())/appends, "append-ms")
			}
		})
	}
}

// planMillis is the median time, in ms, of n plans of a scan of db.tbl's
// current snapshot (the table loaded once).
func (r *rig) planMillis(b *testing.B, lk *lake.Lake, db, tbl string, n int) float64 {
	b.Helper()
	tb, err := lk.Load(r.ctx(), db, tbl)
	if err != nil {
		b.Fatal(err)
	}
	times := make([]time.Duration, n)
	for i := range times {
		start := time.Now()
		if _, err := tb.Scan().PlanFiles(r.ctx()); err != nil {
			b.Fatal(err)
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return float64(times[n/2].Microseconds()) / 1000
}
