package flush

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/internal/laketest"
	"github.com/spillwayhq/spillway/shared/lake"
)

func TestParseLakeSealID(t *testing.T) {
	for _, c := range []struct {
		id        string
		mid       string
		first, to int
		ok        bool
	}{
		{LakeSealID("0a1b", 0, 3), "0a1b", 0, 3, true},
		{LakeSealID("with-dash", 12, 13), "with-dash", 12, 13, true},
		{"0a1b-3", "", 0, 0, false},
		{"-0-1", "", 0, 0, false},
		{"m-2-2", "", 0, 0, false},
		{"m-x-2", "", 0, 0, false},
		{"seal-1", "", 0, 0, false},
	} {
		mid, first, end, err := ParseLakeSealID(c.id)
		if (err == nil) != c.ok || mid != c.mid || first != c.first || end != c.to {
			t.Errorf("ParseLakeSealID(%q) = %q %d %d %v", c.id, mid, first, end, err)
		}
	}
}

// TestLakeExpiryKeepsPendingSeals: seal B's commit lands but the run dies
// before recording it (its manifest stays live without the lake's mark),
// and a compaction makes a newer snapshot. Maintenance an hour apart
// expires snapshots, but never B's, so the resumed manifest finds B and
// appends nothing twice. Once B is marked, a later maintenance expires
// everything but the newest snapshot; the lake keeps exactly A and B, and
// the files left are exactly those the kept snapshot references. A crash
// right after the final expiry commit and a later run give the same.
func TestLakeExpiryKeepsPendingSeals(t *testing.T) {
	for _, point := range []string{"", lake.FaultExpired} {
		t.Run("crash at "+point, func(t *testing.T) {
			e := newTestEnv(t)
			e.cfg.LakeSnapshotAge = 0 // every snapshot is old enough; only pending seals and the newest stay
			r := newLakeRig(t, e)
			ctx := context.Background()
			db := e.cfg.Bucket // Glue databases are global to moto
			hour := hourT - 7200
			t0 := time.Unix(hourT, 0)
			// Maintenance runs on a clock a day ahead of the wall clock
			// the lake stamps snapshots with: every snapshot is older
			// than LakeSnapshotAge.
			m0 := time.Now().Add(24 * time.Hour)
			maintain := func(at time.Time) error {
				at = m0.Add(at.Sub(t0))
				return e.handler(t, at, nil, WithLake(r.lake(t))).maintainLake(ctx, db, "tbl_a", &runState{res: &Result{}})
			}
			e.stage(t, db, "tbl_a", hour, false, "pa", "a")
			if _, err := e.handler(t, t0, nil, WithLake(r.lake(t))).Handle(ctx, forced); err != nil {
				t.Fatal(err)
			}
			sealA := r.seals(t, db, "tbl_a")
			e.stage(t, db, "tbl_a", hour+1, false, "pb", "b")
			committed := lake.FaultCommitted
			r.crash.Store(&committed)
			if _, err := e.handler(t, t0, nil, WithLake(r.lake(t))).Handle(ctx, forced); !errors.Is(err, errCrash) {
				t.Fatalf("run crashing after B's commit: %v", err)
			}
			r.crash.Store(nil)
			if _, err := r.lake(t).Compact(ctx, db, "tbl_a", time.Unix(hour, 0), 0, nil); err != nil {
				t.Fatal(err)
			}
			var sealB string
			for _, s := range r.seals(t, db, "tbl_a") {
				if !slices.Contains(sealA, s) {
					sealB = s
				}
			}
			if len(sealA) != 1 || sealB == "" {
				t.Fatalf("seals: A %v, B %q", sealA, sealB)
			}
			for i, at := range []time.Time{t0, t0.Add(30 * time.Minute), t0.Add(time.Hour)} {
				if err := maintain(at); err != nil {
					t.Fatalf("maintenance %d: %v", i, err)
				}
				if !slices.Contains(r.seals(t, db, "tbl_a"), sealB) {
					t.Fatalf("maintenance %d expired seal %s, which its live manifest still needs", i, sealB)
				}
			}
			// The manifest resumes: B is found, nothing is appended again.
			if _, err := e.handler(t, t0.Add(time.Hour), nil, WithLake(r.lake(t))).Handle(ctx, forced); err != nil {
				t.Fatal(err)
			}
			if got := r.msgs(t, db, "tbl_a"); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("lake after the resumed manifest = %v, want [a b]", got)
			}
			// The observation at t0+1h still saw B pending: this expiry
			// keeps it; the next one, an hour later, may remove it.
			if err := maintain(t0.Add(2 * time.Hour)); err != nil {
				t.Fatal(err)
			}
			if point != "" {
				r.crash.Store(&point)
				if err := maintain(t0.Add(3 * time.Hour)); !errors.Is(err, errCrash) {
					t.Fatalf("maintenance crashing at %s: %v", point, err)
				}
				r.crash.Store(nil)
				if got := r.msgs(t, db, "tbl_a"); !slices.Equal(got, []string{"a", "b"}) {
					t.Fatalf("lake after the crash = %v, want [a b]", got)
				}
			}
			if err := maintain(t0.Add(3 * time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got := r.seals(t, db, "tbl_a"); len(got) != 0 {
				t.Errorf("seals left %v, want none (the compaction is the one kept snapshot)", got)
			}
			if got := r.msgs(t, db, "tbl_a"); !slices.Equal(got, []string{"a", "b"}) {
				t.Errorf("lake after expiry = %v, want [a b]", got)
			}
			sc := s3.NewFromConfig(r.awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
			objs, err := laketest.Objects(ctx, sc, r.cfg.Warehouse+"/"+db+"/tbl_a", false)
			if err != nil {
				t.Fatal(err)
			}
			live, err := laketest.Referenced(ctx, r.awsCfg, r.lake(t), db, "tbl_a")
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(objs, live) {
				t.Errorf("files left %v\nwant exactly the referenced ones %v", slices.Sorted(maps.Keys(objs)), slices.Sorted(maps.Keys(live)))
			}
			if _, err := e.handler(t, t0.Add(3*time.Hour), nil, WithLake(r.lake(t))).Handle(ctx, forced); err != nil {
				t.Fatal(err)
			}
			if got := r.msgs(t, db, "tbl_a"); !slices.Equal(got, []string{"a", "b"}) {
				t.Errorf("lake after another run = %v, want [a b]", got)
			}
		})
	}
}
