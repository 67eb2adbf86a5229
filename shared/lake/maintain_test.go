package lake_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/internal/laketest"
	"github.com/spillwayhq/spillway/shared/lake"
)

// objects lists the S3 objects under the table's location (metadata.json
// files too when withJSON).
func (r *rig) objects(t testing.TB, db, tbl string, withJSON bool) map[string]bool {
	t.Helper()
	sc := s3.NewFromConfig(r.awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	out, err := laketest.Objects(context.Background(), sc, r.warehouse+"/"+db+"/"+tbl, withJSON)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// live returns the files the table's snapshots reference.
func (r *rig) live(t testing.TB, db, tbl string) map[string]bool {
	t.Helper()
	out, err := laketest.Referenced(context.Background(), r.awsCfg, r.lake(t, nil), db, tbl)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// TestExpireAfterCompaction: five appends into one hour, one into the next,
// the hour compacted: seven snapshots. Expiring all but the newest keeps
// the rows, and the files deleted are exactly those no kept snapshot
// references (the five replaced data files, the expired snapshots'
// manifest lists and manifests); a second call finds nothing to do.
func TestExpireAfterCompaction(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	lk := r.lake(t, nil)
	want := appendSeals(t, lk, db, "web", 5, 100)
	if _, err := lk.Compact(ctx, db, "web", time.Unix(hourBase, 0), 0, nil); err != nil {
		t.Fatal(err)
	}
	if seals, err := lk.Seals(ctx, db, "web"); err != nil || len(seals) != 6 {
		t.Fatalf("seals before expiry = %v, %v; want 6", seals, err)
	}
	before := r.objects(t, db, "web", true)
	res, err := lk.Expire(ctx, db, "web", time.Now().Add(time.Hour), 1)
	if err != nil {
		t.Fatalf("expire: %v", err)
	}
	if res.Expired != 6 || res.Kept != 1 {
		t.Fatalf("expire = %+v, want 6 expired, 1 kept", res)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
	after := r.objects(t, db, "web", true)
	if got, live := sortedKeys(r.objects(t, db, "web", false)), sortedKeys(r.live(t, db, "web")); !slices.Equal(got, live) {
		t.Fatalf("files left besides metadata.json:\n%v\nwant exactly the live ones:\n%v", got, live)
	}
	for f := range after {
		if !before[f] && !strings.HasSuffix(f, ".metadata.json") {
			t.Errorf("expiry wrote %s", f)
		}
	}
	if len(r.files(t, db, "web")) != 2 {
		t.Fatalf("live data files = %v, want 2", r.files(t, db, "web"))
	}
	if seals, err := lk.Seals(ctx, db, "web"); err != nil || len(seals) != 0 {
		t.Fatalf("seals after expiry = %v, %v; want none (the compaction is the kept snapshot)", seals, err)
	}
	again, err := lk.Expire(ctx, db, "web", time.Now().Add(time.Hour), 1)
	if err != nil || again.Expired != 0 {
		t.Fatalf("second expire = %+v, %v; want nothing to do", again, err)
	}
	if res, err := lk.Expire(ctx, db, "absent", time.Now(), 1); err != nil || res.Expired != 0 {
		t.Fatalf("expire of a missing table = %+v, %v", res, err)
	}
}

// TestExpireKeepsYoungerSnapshots: a cutoff between two appends keeps the
// later seal (the evidence Append checks), so appending it again is a
// duplicate.
func TestExpireKeepsYoungerSnapshots(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	lk := r.lake(t, nil)
	records, want := gen(0, 50, 1)
	for _, seal := range []string{"s1", "s2", "s3"} {
		if _, err := lk.Append(ctx, db, "web", seal, stream(t, records[:10])); err != nil {
			t.Fatal(err)
		}
		records = records[10:]
	}
	seals, err := lk.Seals(ctx, db, "web")
	if err != nil || len(seals) != 3 {
		t.Fatalf("seals = %v, %v", seals, err)
	}
	// Keep s2 and younger: the cutoff is s2's commit time (Expire keeps a
	// margin below it, so s1 is kept too unless it is older than that).
	if _, err := lk.Expire(ctx, db, "web", seals[1].Time, 1); err != nil {
		t.Fatal(err)
	}
	got, err := lk.Seals(ctx, db, "web")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	if !slices.Contains(ids, "s2") || !slices.Contains(ids, "s3") {
		t.Fatalf("seals after expiry = %v, want s2 and s3 kept", ids)
	}
	res, err := lk.Append(ctx, db, "web", "s2", stream(t, records[:10]))
	if err != nil || !res.Duplicate {
		t.Fatalf("append s2 again = %+v, %v; want a duplicate", res, err)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want[:30]))
}

// TestRemoveOrphansAfterCrashedAppend: an append that crashed after writing
// its files and before committing leaves files no snapshot references;
// RemoveOrphans deletes exactly those (a crash after planning deletes
// nothing and a rerun finishes), and the table keeps its rows.
func TestRemoveOrphansAfterCrashedAppend(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	records, want := gen(0, 200, 2)
	if _, err := r.lake(t, nil).Append(ctx, db, "web", "s1", stream(t, records[:100])); err != nil {
		t.Fatal(err)
	}
	before := r.objects(t, db, "web", true)
	crash := &crashAt{point: lake.FaultDataWritten}
	if _, err := r.lake(t, func(c *lake.Config) { c.Fault = crash.fault }).Append(ctx, db, "web", "s2", stream(t, records[100:])); !errors.Is(err, errCrash) {
		t.Fatalf("crashing append: %v", err)
	}
	var orphans []string
	for f := range r.objects(t, db, "web", true) {
		if !before[f] {
			orphans = append(orphans, f)
		}
	}
	slices.Sort(orphans)
	if len(orphans) == 0 {
		t.Fatal("the crashed append left no files")
	}
	planned := &crashAt{point: lake.FaultOrphansPlanned}
	if _, err := r.lake(t, func(c *lake.Config) { c.Fault = planned.fault }).RemoveOrphans(ctx, db, "web", 0); !errors.Is(err, errCrash) {
		t.Fatalf("remove orphans with a crash after planning: %v", err)
	}
	if got := len(r.objects(t, db, "web", true)); got != len(before)+len(orphans) {
		t.Fatalf("a crash after planning deleted files: %d objects, want %d", got, len(before)+len(orphans))
	}
	res, err := r.lake(t, nil).RemoveOrphans(ctx, db, "web", 0)
	if err != nil {
		t.Fatalf("remove orphans: %v", err)
	}
	if got := slices.Sorted(slices.Values(res.Files)); !slices.Equal(got, orphans) {
		t.Fatalf("deleted %v\nwant the crashed append's files %v", got, orphans)
	}
	if got := r.objects(t, db, "web", true); !maps.Equal(got, before) {
		t.Fatalf("objects after cleanup = %v, want %v", sortedKeys(got), sortedKeys(before))
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want[:100]))
	if _, err := r.lake(t, nil).Append(ctx, db, "web", "s2", stream(t, records[100:])); err != nil {
		t.Fatal(err)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
	// Files younger than the safety age are never orphans.
	if res, err := r.lake(t, nil).RemoveOrphans(ctx, db, "web", time.Hour); err != nil || len(res.Files) != 0 {
		t.Fatalf("remove orphans older than an hour = %+v, %v", res, err)
	}
}

// TestExpireCrashPoint: a crash right after the expiry commit leaves the
// table readable with its rows; the next call has nothing to expire.
func TestExpireCrashPoint(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	want := appendSeals(t, r.lake(t, nil), db, "web", 3, 50)
	crash := &crashAt{point: lake.FaultExpired}
	if _, err := r.lake(t, func(c *lake.Config) { c.Fault = crash.fault }).Expire(ctx, db, "web", time.Now().Add(time.Hour), 1); !errors.Is(err, errCrash) {
		t.Fatalf("expire with a crash: %v", err)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
	res, err := r.lake(t, nil).Expire(ctx, db, "web", time.Now().Add(time.Hour), 1)
	if err != nil || res.Expired != 0 || res.Kept != 1 {
		t.Fatalf("expire after the crash = %+v, %v", res, err)
	}
	if got, live := sortedKeys(r.objects(t, db, "web", false)), sortedKeys(r.live(t, db, "web")); !slices.Equal(got, live) {
		t.Fatalf("files left %v, want the live ones %v", got, live)
	}
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
}

// TestExpireRacingAppends: expiries racing appends (the edge enforces
// Glue's VersionId) retry their conflicts; every append lands once and the
// table keeps every row.
func TestExpireRacingAppends(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	want := appendSeals(t, r.lake(t, nil), db, "web", 2, 50)
	const racers = 2
	var wg sync.WaitGroup
	errs := make([]error, racers+1)
	for i := range racers {
		records, exp := gen(10_000+i*100, 100, 1)
		want = append(want, exp...)
		lk := r.lake(t, nil)
		wg.Go(func() {
			for j := range 2 {
				part := records[j*50 : j*50+50]
				if _, err := lk.Append(ctx, db, "web", "race-"+strconv.Itoa(i)+"-"+strconv.Itoa(j), stream(t, part)); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	lk := r.lake(t, nil)
	expired := 0
	wg.Go(func() {
		for range 3 {
			res, err := lk.Expire(ctx, db, "web", time.Now().Add(time.Hour), 1)
			if err != nil {
				errs[racers] = err
				return
			}
			expired += res.Expired
		}
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	t.Logf("%d snapshots expired alongside %d appends", expired, racers*2)
	diffRows(t, r.rows(t, db, "web", 0), canon(want))
}
