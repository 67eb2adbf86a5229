package lake_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/shared/lake"
)

// files returns the data file paths of the table's current snapshot.
func (r *rig) files(t testing.TB, db, tbl string) map[string]bool {
	t.Helper()
	tb, err := r.lake(t, nil).Load(r.ctx(), db, tbl)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tb.Scan().PlanFiles(r.ctx())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, task := range tasks {
		out[task.File.FilePath()] = true
	}
	return out
}

// appendSeals appends n seals of per records each into hour hourBase and
// one seal into the next hour, and returns the expected rows.
func appendSeals(t testing.TB, lk *lake.Lake, db, tbl string, n, per int) []map[string]any {
	t.Helper()
	var want []map[string]any
	for i := range n {
		records, exp := gen(i*per, per, 1)
		if _, err := lk.Append(context.Background(), db, tbl, "seal-"+strconv.Itoa(i), stream(t, records)); err != nil {
			t.Fatal(err)
		}
		want = append(want, exp...)
	}
	records, exp := gen(n*per, per, 1)
	for _, r := range records {
		r["time"] = r["time"].(int64) + 3600
	}
	for _, e := range exp {
		e[lake.TDTimeColumn] = e[lake.TDTimeColumn].(int64) + 3600
	}
	if _, err := lk.Append(context.Background(), db, tbl, "seal-next-hour", stream(t, records)); err != nil {
		t.Fatal(err)
	}
	return append(want, exp...)
}

func TestCompactHour(t *testing.T) {
	r := newRig(t)
	lk := r.lake(t, nil)
	ctx := context.Background()
	db := uniqueDB()
	want := appendSeals(t, lk, db, "web", 5, 200)
	before := r.files(t, db, "web")
	if len(before) != 6 {
		t.Fatalf("%d files before compaction, want 6", len(before))
	}
	tb, err := lk.Load(r.ctx(), db, "web")
	if err != nil {
		t.Fatal(err)
	}
	oldSnap := tb.CurrentSnapshot().SnapshotID
	hour := time.Unix(hourBase, 0)

	res, err := lk.Compact(ctx, db, "web", hour.Add(17*time.Minute), 64<<20, nil)
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	if res.Commits != 1 || res.FilesBefore != 5 || res.FilesAfter != 1 || res.SnapshotID == 0 {
		t.Fatalf("compact result %+v, want 5 files -> 1", res)
	}
	t.Logf("compaction: %d files, %d bytes -> %d files, %d bytes", res.FilesBefore, res.BytesBefore, res.FilesAfter, res.BytesAfter)
	after := r.files(t, db, "web")
	if len(after) != 2 {
		t.Fatalf("%d files after compaction, want 2 (the compacted hour and the next)", len(after))
	}
	kept := 0
	for f := range after {
		if before[f] {
			kept++
		}
	}
	if kept != 1 { // only the other hour's file survives: never both old and new
		t.Fatalf("%d of the old files still live, want 1 (the other hour)", kept)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
	// A reader still on the snapshot before the compaction sees the same rows.
	diffRows(t, r.rows(t, db, "web", oldSnap), canon(want))

	again, err := lk.Compact(ctx, db, "web", hour, 64<<20, nil)
	if err != nil || again.SnapshotID != 0 {
		t.Fatalf("second compaction = %+v, %v; want nothing to do", again, err)
	}
	if got, err := lk.Compact(ctx, db, "absent_table", hour, 0, nil); err != nil || got.SnapshotID != 0 {
		t.Fatalf("compacting a missing table = %+v, %v", got, err)
	}
}

// twoGroups is a lake with CompactMaxRows 450 and a table db.web holding
// five files of 200 rows in hour hourBase (two groups of two files to
// rewrite, and one file left) and one in the next hour; want is its rows.
func twoGroups(t *testing.T) (r *rig, lk *lake.Lake, db string, want []map[string]any) {
	t.Helper()
	r = newRig(t)
	db = uniqueDB()
	lk = r.lake(t, func(c *lake.Config) { c.CompactMaxRows = 450 })
	return r, lk, db, appendSeals(t, lk, db, "web", 5, 200)
}

// TestCompactGroups compacts an hour whose rows exceed CompactMaxRows: five
// files of 200 rows under a bound of 450 rows are rewritten as two groups
// of two files, one commit each, and the fifth file stays (a group of one
// is not rewritten); rows are unchanged and a second Compact does nothing.
func TestCompactGroups(t *testing.T) {
	r, lk, db, want := twoGroups(t)
	ctx := context.Background()
	hour := time.Unix(hourBase, 0)
	res, err := lk.Compact(ctx, db, "web", hour, 64<<20, nil)
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	if res.Commits != 2 || res.FilesBefore != 4 || res.FilesAfter != 2 {
		t.Fatalf("compact result %+v, want 2 commits of 2 files -> 1", res)
	}
	if got := len(r.files(t, db, "web")); got != 4 {
		t.Fatalf("%d files after compaction, want 4 (two groups' files, the one left, the next hour's)", got)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
	again, err := lk.Compact(ctx, db, "web", hour, 64<<20, nil)
	if err != nil || again.Commits != 0 {
		t.Fatalf("second compaction = %+v, %v; want nothing to do", again, err)
	}
}

// TestCompactStop: stop reports true once the first of two groups is
// committed; Compact returns Stopped with that group's commit and no
// error, the rows unchanged, and a later call rewrites the second group
// only. A stop true from the start rewrites nothing.
func TestCompactStop(t *testing.T) {
	r, lk, db, want := twoGroups(t)
	ctx := context.Background()
	hour := time.Unix(hourBase, 0)
	if res, err := lk.Compact(ctx, db, "web", hour, 64<<20, func() bool { return true }); err != nil || !res.Stopped || res.Commits != 0 {
		t.Fatalf("compact stopped from the start = %+v, %v; want Stopped, no commit", res, err)
	}
	asked := 0
	res, err := lk.Compact(ctx, db, "web", hour, 64<<20, func() bool { asked++; return asked > 1 })
	if err != nil || !res.Stopped || res.Commits != 1 || res.FilesBefore != 2 {
		t.Fatalf("compact stopped after one group = %+v, %v; want Stopped after 1 commit of 2 files", res, err)
	}
	if got := len(r.files(t, db, "web")); got != 5 {
		t.Fatalf("%d files after the stopped compaction, want 5 (one group's replacement, three left, the next hour's)", got)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
	res, err = lk.Compact(ctx, db, "web", hour, 64<<20, nil)
	if err != nil || res.Stopped || res.Commits != 1 || res.FilesBefore != 2 {
		t.Fatalf("resumed compaction = %+v, %v; want the second group only", res, err)
	}
	if got := len(r.files(t, db, "web")); got != 4 {
		t.Fatalf("%d files after the resumed compaction, want 4", got)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
}

func TestCompactRacingAppends(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	want := appendSeals(t, r.lake(t, nil), db, "web", 4, 100)
	const racers = 3
	var more [racers][]map[string]any
	var wg sync.WaitGroup
	errs := make([]error, racers+1)
	for i := range racers {
		records, exp := gen(10_000+i*100, 100, 1)
		more[i] = exp
		lk := r.lake(t, nil)
		wg.Go(func() {
			_, errs[i] = lk.Append(ctx, db, "web", "late-"+strconv.Itoa(i), stream(t, records))
		})
	}
	var cres lake.CompactResult
	lk := r.lake(t, nil)
	wg.Go(func() { cres, errs[racers] = lk.Compact(ctx, db, "web", time.Unix(hourBase, 0), 64<<20, nil) })
	// Readers during the race see whole commits only: the rows of the
	// current snapshot are always the base rows plus whole seals.
	base := len(want)
	reads := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for stop := false; !stop && reads < 20; reads++ {
		select {
		case <-done:
			stop = true
		default:
		}
		n := len(r.rows(t, db, "web", 0))
		if n < base || (n-base)%100 != 0 {
			t.Fatalf("a reader saw %d rows: not %d plus whole seals of 100", n, base)
		}
	}
	<-done
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	t.Logf("compaction %+v alongside %d appends, %d reads", cres, racers, reads)
	for _, m := range more {
		want = append(want, m...)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
}
