package lake_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/apache/iceberg-go"

	"github.com/spillwayhq/spillway/shared/lake"
)

func TestAppendReadBack(t *testing.T) {
	r := newRig(t)
	lk := r.lake(t, nil)
	ctx := context.Background()
	db := uniqueDB()
	records, want := gen(0, 3000, 3)
	res, err := lk.Append(ctx, db, "access", "seal-1", stream(t, records))
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if res.Duplicate || res.Rows != 3000 || res.SnapshotID == 0 {
		t.Fatalf("result = %+v", res)
	}
	diffRows(t, r.rows(t, db, "access", 0), canon(want))

	tb, err := lk.Load(ctx, db, "access")
	if err != nil {
		t.Fatal(err)
	}
	snap := tb.CurrentSnapshot()
	if got := snap.Summary.Properties[lake.SummarySealID]; got != "seal-1" {
		t.Fatalf("snapshot summary seal id = %q", got)
	}
	wantTypes := map[string]iceberg.Type{
		"time": iceberg.PrimitiveTypes.TimestampTz, "td_time": iceberg.PrimitiveTypes.Int64,
		"seq": iceberg.PrimitiveTypes.Int64, "status": iceberg.PrimitiveTypes.Int64, "path": iceberg.PrimitiveTypes.String,
		"ratio": iceberg.PrimitiveTypes.Float64, "ok": iceberg.PrimitiveTypes.Bool, "raw": iceberg.PrimitiveTypes.Binary,
		"nested": iceberg.PrimitiveTypes.String,
	}
	fields := tb.Schema().Fields()
	if len(fields) != len(wantTypes) {
		t.Fatalf("schema has %d fields, want %d: %v", len(fields), len(wantTypes), tb.Schema())
	}
	for _, f := range fields {
		if !f.Type.Equals(wantTypes[f.Name]) {
			t.Errorf("column %s is %s, want %s", f.Name, f.Type, wantTypes[f.Name])
		}
	}
	tasks, err := tb.Scan().PlanFiles(r.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 3 {
		t.Fatalf("%d data files, want one per hour (3)", len(tasks))
	}
	for _, task := range tasks {
		if p := task.File.FilePath(); !strings.HasPrefix(p, r.warehouse+"/"+db+"/access/data/") || !strings.HasSuffix(p, ".parquet") {
			t.Errorf("data file %s is not a parquet file under the table", p)
		}
	}
	if got := tb.Properties()["write.parquet.compression-codec"]; got != "zstd" {
		t.Errorf("compression = %q, want zstd", got)
	}
}

func TestAppendSameSealOnce(t *testing.T) {
	ctx := context.Background()
	t.Run("sequential", func(t *testing.T) {
		r := newRig(t)
		lk := r.lake(t, nil)
		db := uniqueDB()
		records, want := gen(0, 100, 2)
		first, err := lk.Append(ctx, db, "events", "seal-a", stream(t, records))
		if err != nil {
			t.Fatal(err)
		}
		again, err := r.lake(t, nil).Append(ctx, db, "events", "seal-a", stream(t, records))
		if err != nil {
			t.Fatal(err)
		}
		if !again.Duplicate || again.SnapshotID != first.SnapshotID || again.Rows != 0 {
			t.Fatalf("second append = %+v, want a duplicate of snapshot %d", again, first.SnapshotID)
		}
		diffRows(t, r.rows(t, db, "events", 0), canon(want))
	})
	t.Run("racing", func(t *testing.T) {
		r := newRig(t)
		db := uniqueDB()
		records, want := gen(0, 200, 2)
		body := stream(t, records)
		// Create the table first so the racers race on the commit, not
		// only on the creation.
		if _, err := r.lake(t, nil).Append(ctx, db, "events", "seal-0", stream(t, []map[string]any{{"time": hourBase, "seq": int64(-1)}})); err != nil {
			t.Fatal(err)
		}
		const n = 4
		results := make([]lake.Result, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			lk := r.lake(t, nil)
			wg.Go(func() { results[i], errs[i] = lk.Append(ctx, db, "events", "seal-b", body) })
		}
		wg.Wait()
		written := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("racer %d: %v", i, errs[i])
			}
			if !results[i].Duplicate {
				written++
			}
		}
		if written != 1 {
			t.Fatalf("%d racers wrote seal-b, want 1: %+v", written, results)
		}
		want = append(want, map[string]any{lake.TDTimeColumn: hourBase, "seq": int64(-1)})
		diffRows(t, r.rows(t, db, "events", 0), canon(want))
	})
}

func TestRacingSealsAllLand(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	const n = 4
	var want []map[string]any
	bodies := make([][]byte, n)
	for i := range n {
		records, exp := gen(i*500, 500, 2)
		bodies[i] = stream(t, records)
		want = append(want, exp...)
	}
	results := make([]lake.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		lk := r.lake(t, nil)
		wg.Go(func() { results[i], errs[i] = lk.Append(ctx, db, "events", "seal-"+string(rune('a'+i)), bodies[i]) })
	}
	wg.Wait()
	retried := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("seal %d: %v", i, errs[i])
		}
		if results[i].Duplicate || results[i].Rows != 500 {
			t.Fatalf("seal %d: %+v", i, results[i])
		}
		retried += results[i].Attempts - 1
	}
	t.Logf("%d conflicts retried", retried)
	lk := r.lake(t, nil)
	diffRows(t, r.rows(t, db, "events", 0), canon(want))
	tb, err := lk.Load(ctx, db, "events")
	if err != nil {
		t.Fatal(err)
	}
	seals := map[string]int{}
	for _, s := range tb.Metadata().Snapshots() {
		if id := s.Summary.Properties[lake.SummarySealID]; id != "" {
			seals[id]++
		}
	}
	if len(seals) != n {
		t.Fatalf("snapshots carry seals %v, want %d distinct", seals, n)
	}
	for id, c := range seals {
		if c != 1 {
			t.Fatalf("seal %s in %d snapshots", id, c)
		}
	}
}
