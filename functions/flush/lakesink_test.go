package flush

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/internal/laketest"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/lake"
	"github.com/spillwayhq/spillway/shared/layout"
)

// lakeRig is a lake in the test env's bucket, behind a local edge (which
// enforces Glue's UpdateTable VersionId) in front of the test binary's moto.
type lakeRig struct {
	awsCfg aws.Config
	cfg    lake.Config
	crash  atomic.Pointer[string] // lake fault point to fail at, nil: none
}

func newLakeRig(tb testing.TB, e *testEnv) *lakeRig {
	tb.Helper()
	ed, err := edge.Start(context.Background(), edge.Config{Addr: "127.0.0.1:0", Backend: motoServer(tb).URL()})
	if err != nil {
		tb.Fatalf("start edge: %v", err)
	}
	tb.Cleanup(func() { _ = ed.Close() })
	awsCfg, err := awsconf.Load(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")), config.WithBaseEndpoint(ed.URL()))
	if err != nil {
		tb.Fatal(err)
	}
	r := &lakeRig{awsCfg: awsCfg}
	r.cfg = lake.Config{Warehouse: "s3://" + e.cfg.Bucket + "/lake", S3Endpoint: ed.URL(), Fault: func(_ context.Context, p string) error {
		if c := r.crash.Load(); c != nil && *c == p {
			return errCrash
		}
		return nil
	}}
	return r
}

// lake is a fresh Lake (a new process's view).
func (r *lakeRig) lake(tb testing.TB) *lake.Lake {
	tb.Helper()
	lk, err := lake.New(r.awsCfg, r.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return lk
}

// msgs returns the sorted "msg" values of the lake table's rows.
func (r *lakeRig) msgs(tb testing.TB, db, table string) []string {
	tb.Helper()
	recs, err := laketest.Records(context.Background(), r.awsCfg, r.lake(tb), db, table)
	if err != nil {
		tb.Fatalf("read lake: %v", err)
	}
	var out []string
	for _, rec := range recs {
		out = append(out, rec["msg"].(string))
	}
	sort.Strings(out)
	return out
}

// seals returns the seal ids of the table's snapshots.
func (r *lakeRig) seals(tb testing.TB, db, table string) []string {
	tb.Helper()
	t, err := r.lake(tb).Load(utils.WithAwsConfig(context.Background(), &r.awsCfg), db, table)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, s := range t.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[lake.SummarySealID] != "" {
			out = append(out, s.Summary.Properties[lake.SummarySealID])
		}
	}
	return out
}

// files returns the number of data files of the table's current snapshot.
func (r *lakeRig) files(tb testing.TB, db, table string) int {
	tb.Helper()
	snap, err := r.lake(tb).Current(context.Background(), db, table)
	if err != nil {
		tb.Fatal(err)
	}
	return len(snap.Files)
}

// TestLakeSink: the lake is one more sink, alongside a TD endpoint: a
// manifest's three sealed objects (three hours) are one lake commit, exactly
// once; a crash at each lake fault point of an
// append (data files written, commit done) and a resume give exactly the
// sealed records, as does a second run.
func TestLakeSink(t *testing.T) {
	for _, point := range []string{"", lake.FaultDataWritten, lake.FaultCommitted} {
		t.Run("crash at "+point, func(t *testing.T) {
			e := newTestEnv(t)
			r := newLakeRig(t, e)
			td := newTDReceiver(t)
			ctx := context.Background()
			db := e.cfg.Bucket // Glue databases are global to moto
			due, current := stageCorpusIn(t, e, db)
			all := append(slices.Clone(due), current...)
			sort.Strings(all)
			now := time.Unix(hourT+120, 0)
			if point != "" {
				r.crash.Store(&point)
				_, err := e.handler(t, now, []Sink{td.sink()}, WithLake(r.lake(t))).Handle(ctx, forced)
				if !errors.Is(err, errCrash) {
					t.Fatalf("crashing run: err = %v, want the crash", err)
				}
				if got := td.msgs(t); !slices.Equal(got, all) {
					t.Errorf("a failing lake held up TD: td = %v, want %v", got, all)
				}
				r.crash.Store(nil)
			}
			for run := range 2 {
				if _, err := e.handler(t, now, []Sink{td.sink()}, WithLake(r.lake(t))).Handle(ctx, forced); err != nil {
					t.Fatalf("run %d: %v", run, err)
				}
				if got := r.msgs(t, db, "tbl_a"); !slices.Equal(got, all) {
					t.Errorf("run %d: lake = %v, want %v", run, got, all)
				}
				if got := e.sealedMsgs(t); !slices.Equal(got, all) {
					t.Errorf("run %d: sealed = %v, want %v", run, got, all)
				}
				if got := r.seals(t, db, "tbl_a"); len(got) != 1 {
					t.Errorf("run %d: lake commits carry seal ids %v, want one commit for the manifest's sealed objects", run, got)
				}
				if got := td.msgs(t); !slices.Equal(got, all) {
					t.Errorf("run %d: td = %v, want %v", run, got, all)
				}
			}
		})
	}
}

// TestLakeCompaction: three runs append three files to one lake hour; a
// scheduled run before the hour's late window has passed leaves them, one
// after it rewrites them into one file with the same rows and deletes the
// hour's item. A crash at each step of the compaction (data files
// written, committed, before the item is deleted) and a later run give
// the same.
func TestLakeCompaction(t *testing.T) {
	for _, point := range []string{"", lake.FaultDataWritten, lake.FaultCommitted, "after-compact"} {
		t.Run("crash at "+point, func(t *testing.T) {
			e := newTestEnv(t)
			r := newLakeRig(t, e)
			ctx := context.Background()
			db := e.cfg.Bucket // Glue databases are global to moto
			hour := hourT - 7200
			want := r.smallFiles(t, e, db, hour, "a1", "a2", "a3")
			// The hour ends at hour+3600; its late window 10 minutes later.
			dueAt := hour + 3600 + int64(e.cfg.LateWindow/time.Second)
			res, err := e.handler(t, time.Unix(dueAt-1, 0), nil, WithLake(r.lake(t))).Handle(ctx, scheduled)
			if err != nil || res.Compacted != 0 || r.files(t, db, "tbl_a") != 3 {
				t.Fatalf("before the late window passed: compacted %d (err %v), %d files", res.Compacted, err, r.files(t, db, "tbl_a"))
			}
			if point != "" {
				crash := func(_ context.Context, p string) error {
					if p == point {
						return errCrash
					}
					return nil
				}
				r.crash.Store(&point)
				_, err := e.handler(t, time.Unix(dueAt, 0), nil, WithLake(r.lake(t)), WithFault(crash)).Handle(ctx, scheduled)
				if !errors.Is(err, errCrash) {
					t.Fatalf("crashing run: err = %v, want the crash", err)
				}
				r.crash.Store(nil)
				if got := r.msgs(t, db, "tbl_a"); !slices.Equal(got, want) {
					t.Errorf("after the crash: lake = %v, want %v", got, want)
				}
			}
			if _, err := e.handler(t, time.Unix(dueAt, 0), nil, WithLake(r.lake(t))).Handle(ctx, scheduled); err != nil {
				t.Fatal(err)
			}
			if got := r.files(t, db, "tbl_a"); got != 1 {
				t.Errorf("files after compaction = %d, want 1", got)
			}
			if got := r.msgs(t, db, "tbl_a"); !slices.Equal(got, want) {
				t.Errorf("lake = %v, want %v", got, want)
			}
			if got := compactItems(t, e, db, "tbl_a"); len(got) != 0 {
				t.Errorf("hours left to compact: %v", got)
			}
		})
	}
}

// compactItems returns the sort keys of db.table's lake hours waiting for
// compaction.
func compactItems(tb testing.TB, e *testEnv, db, table string) []string {
	tb.Helper()
	out, err := e.ddb.Query(context.Background(), &dynamodb.QueryInput{
		TableName: aws.String(e.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(layout.CompactPK(db, table))},
	})
	if err != nil {
		tb.Fatal(err)
	}
	var sks []string
	for _, it := range out.Items {
		sks = append(sks, sval(it[layout.AttrSK]))
	}
	return sks
}

// TestLakeCompactionDeadline: a lake hour of four files compacts in two
// groups (CompactMaxRows 2). The scheduled run's deadline reserve is
// reached once the first group is committed (the run's wall clock jumps
// there at the commit): the run stops before the second group, keeps the
// hour's item and reports no error, and the lake holds the first group's
// replacement and the two other files, the same rows. The next run
// compacts the second group only, once, and deletes the item.
func TestLakeCompactionDeadline(t *testing.T) {
	e := newTestEnv(t)
	r := newLakeRig(t, e)
	r.cfg.CompactMaxRows = 2
	wall0 := time.Now()
	deadline := wall0.Add(time.Hour)
	var wall atomic.Int64
	wall.Store(wall0.UnixNano())
	crash := r.cfg.Fault
	r.cfg.Fault = func(ctx context.Context, p string) error {
		if p == lake.FaultCommitted {
			wall.Store(deadline.Add(-runReserve / 2).UnixNano()) // the commit took the run's budget
		}
		return crash(ctx, p)
	}
	clock := WithWallClock(func() time.Time { return time.Unix(0, wall.Load()) })
	ctx := context.Background()
	db := e.cfg.Bucket // Glue databases are global to moto
	hour := hourT - 7200
	want := r.smallFiles(t, e, db, hour, "a1", "a2", "a3", "a4")
	dueAt := time.Unix(hour+3600+int64(e.cfg.LateWindow/time.Second), 0)
	wall.Store(wall0.UnixNano()) // the appends' commits moved it
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	res, err := e.handler(t, dueAt, nil, WithLake(r.lake(t)), clock).Handle(dctx, scheduled)
	if err != nil {
		t.Fatalf("run reaching its deadline reserve: %v", err)
	}
	if got := r.files(t, db, "tbl_a"); got != 3 || res.Compacted != 0 {
		t.Fatalf("after the run cut at its deadline reserve: %d files, %d hours compacted; want 3 files (one group rewritten), 0 hours", got, res.Compacted)
	}
	if got := r.msgs(t, db, "tbl_a"); !slices.Equal(got, want) {
		t.Errorf("after the cut run: lake = %v, want %v", got, want)
	}
	if got := compactItems(t, e, db, "tbl_a"); len(got) != 1 {
		t.Fatalf("hours left to compact after the cut run: %v, want the hour", got)
	}
	wall.Store(wall0.UnixNano())
	if res, err = e.handler(t, dueAt, nil, WithLake(r.lake(t)), clock).Handle(dctx, scheduled); err != nil || res.Compacted != 1 {
		t.Fatalf("next run: compacted %d, %v; want the hour", res.Compacted, err)
	}
	if got := r.files(t, db, "tbl_a"); got != 2 {
		t.Errorf("files after the next run = %d, want 2 (one per group)", got)
	}
	if got := r.msgs(t, db, "tbl_a"); !slices.Equal(got, want) {
		t.Errorf("lake = %v, want %v", got, want)
	}
	if got := r.compactions(t, db, "tbl_a"); got != 2 {
		t.Errorf("%d compaction commits, want 2 (each group once)", got)
	}
	if got := compactItems(t, e, db, "tbl_a"); len(got) != 0 {
		t.Errorf("hours left to compact: %v", got)
	}
}

// smallFiles stages one event per msg in hour of db.tbl_a and flushes
// each in its own run, so that the lake hour holds one file per msg; it
// returns msgs.
func (r *lakeRig) smallFiles(t *testing.T, e *testEnv, db string, hour int64, msgs ...string) []string {
	t.Helper()
	for i, m := range msgs {
		e.stage(t, db, "tbl_a", hour+int64(i), false, "p"+m, m)
		if _, err := e.handler(t, time.Unix(hour+600, 0), nil, WithLake(r.lake(t))).Handle(context.Background(), forced); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.files(t, db, "tbl_a"); got != len(msgs) {
		t.Fatalf("files before compaction = %d, want %d", got, len(msgs))
	}
	return msgs
}

// compactions counts the table's compaction commits.
func (r *lakeRig) compactions(tb testing.TB, db, table string) int {
	tb.Helper()
	t, err := r.lake(tb).Load(utils.WithAwsConfig(context.Background(), &r.awsCfg), db, table)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, s := range t.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[lake.SummaryCompactedHour] != "" {
			n++
		}
	}
	return n
}
