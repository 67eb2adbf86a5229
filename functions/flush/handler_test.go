package flush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/layout"
)

// hourT is 2026-11-22T10:00:00Z.
const hourT = int64(1795341600)

var errCrash = errors.New("simulated crash")

var (
	scheduled = json.RawMessage(`{"version":"0","source":"aws.events","detail-type":"Scheduled Event","detail":{}}`)
	forced    = json.RawMessage(`{"source":"spillway.ingest","force":true}`)
)

// crashForcedRun runs a forced flush at now that crashes at fault point.
func crashForcedRun(tb testing.TB, e *testEnv, now time.Time, sinks []Sink, point string) {
	tb.Helper()
	crashing := e.handler(tb, now, sinks, WithFault(func(_ context.Context, p string) error {
		if p == point {
			return errCrash
		}
		return nil
	}))
	if _, err := crashing.Handle(context.Background(), forced); !errors.Is(err, errCrash) {
		tb.Fatalf("run crashing at %s: err = %v, want the crash", point, err)
	}
}

// stageCorpus stages 3 due objects (two hours) and one for the current hour.
func stageCorpus(tb testing.TB, e *testEnv) (due, current []string) {
	tb.Helper()
	return stageCorpusIn(tb, e, "db_one")
}

// stageCorpusIn is stageCorpus into database db, table tbl_a.
func stageCorpusIn(tb testing.TB, e *testEnv, db string) (due, current []string) {
	tb.Helper()
	e.stage(tb, db, "tbl_a", hourT-7200, false, "p1", "a1", "a2")
	e.stage(tb, db, "tbl_a", hourT-3600, false, "p2", "b1")
	e.stage(tb, db, "tbl_a", hourT-3600, true, "p3", "c1", "c2", "c3")
	e.stage(tb, db, "tbl_a", hourT, false, "p4", "d1")
	return []string{"a1", "a2", "b1", "c1", "c2", "c3"}, []string{"d1"}
}

// TestScheduledSealsEverythingCommitted: sealing is continuous. A
// scheduled run seals what is committed, the current hour included; what is
// committed later for the same hour becomes another sealed object of that
// hour's partition, imported under its own unique_id.
func TestScheduledSealsEverythingCommitted(t *testing.T) {
	e := newTestEnv(t)
	td := newTDReceiver(t)
	ctx := context.Background()
	due, current := stageCorpus(t, e)
	all := append(slices.Clone(due), current...)
	sort.Strings(all)
	now := time.Unix(hourT+120, 0)
	res, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, scheduled)
	if err != nil {
		t.Fatalf("scheduled: %v", err)
	}
	if res.Events != int64(len(all)) || res.Manifests != 1 {
		t.Errorf("result = %+v", res)
	}
	if got := e.sealedMsgs(t); !slices.Equal(got, all) {
		t.Errorf("sealed = %v, want %v", got, all)
	}
	if got := td.msgs(t); !slices.Equal(got, all) {
		t.Errorf("td = %v, want %v", got, all)
	}
	if got := append(e.keys(t, "staged/"), e.keys(t, "late/")...); len(got) != 0 {
		t.Errorf("staged left = %v", got)
	}
	if got := e.manifests(t); len(got) != 0 {
		t.Errorf("live manifests = %v, want none (finished ones are deleted)", got)
	}
	e.stage(t, "db_one", "tbl_a", hourT, false, "p5", "e1")
	if _, err := e.handler(t, now.Add(time.Minute), []Sink{td.sink()}).Handle(ctx, scheduled); err != nil {
		t.Fatalf("second run: %v", err)
	}
	all = append(all, "e1")
	if got := e.sealedMsgs(t); !slices.Equal(got, all) {
		t.Errorf("sealed = %v, want %v", got, all)
	}
	if got := td.msgs(t); !slices.Equal(got, all) {
		t.Errorf("td = %v, want %v", got, all)
	}
	if got := e.keys(t, "data/db=db_one/table=tbl_a/dt=2026-11-22/hour=10/"); len(got) != 2 {
		t.Errorf("hour 10 objects = %v, want two (one per run)", got)
	}
}

func TestCrashAtEachFaultPointThenResume(t *testing.T) {
	for _, point := range FaultPoints {
		t.Run(point, func(t *testing.T) {
			e := newTestEnv(t)
			td := newTDReceiver(t)
			ctx := context.Background()
			due, current := stageCorpus(t, e)
			all := append(due, current...)
			sort.Strings(all)
			now := time.Unix(hourT+1200, 0)
			crashForcedRun(t, e, now, []Sink{td.sink()}, point)
			res, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			// A crash after the pass left nothing to resume.
			if wantResumed := map[bool]int{true: 0, false: 1}[point == "after-pass"]; res.Resumed != wantResumed {
				t.Errorf("resumed = %d, want %d", res.Resumed, wantResumed)
			}
			if got := e.sealedMsgs(t); !slices.Equal(got, all) {
				t.Errorf("sealed = %v, want %v", got, all)
			}
			if got := td.msgs(t); !slices.Equal(got, all) {
				t.Errorf("td = %v, want %v", got, all)
			}
			if got := append(e.keys(t, "staged/"), e.keys(t, "late/")...); len(got) != 0 {
				t.Errorf("staged left = %v", got)
			}
			if got := e.keys(t, layout.PrefixManifests); len(got) != 0 {
				t.Errorf("manifest bodies left = %v", got)
			}
		})
	}
}

func TestTDErrors(t *testing.T) {
	cases := []struct {
		name       string
		fail       []int
		strict     bool
		wantParked int
		wantTD     bool
	}{
		{"500 and 429 for a while", []int{500, 429, 503, 429, 500}, false, 0, true},
		{"404 creates db and table", nil, true, 0, true},
		{"400 is parked", []int{400, 400}, false, 2, false},
		{"422 is parked", []int{422, 422}, false, 2, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			td := newTDReceiver(t)
			td.fail, td.strict = tc.fail, tc.strict
			ctx := context.Background()
			e.stage(t, "db_one", "tbl_a", hourT-7200, false, "p1", "a1", "a2")
			e.stage(t, "db_one", "tbl_a", hourT-3600, false, "p2", "b1")
			want := []string{"a1", "a2", "b1"}
			res, err := e.handler(t, time.Unix(hourT, 0), []Sink{td.sink()}).Handle(ctx, forced)
			if err != nil {
				t.Fatalf("flush: %v", err)
			}
			if res.Parked != tc.wantParked {
				t.Errorf("parked = %d, want %d", res.Parked, tc.wantParked)
			}
			if got := e.keys(t, "failed/"); len(got) != tc.wantParked {
				t.Errorf("failed objects = %v", got)
			}
			if got := e.sealedMsgs(t); !slices.Equal(got, want) {
				t.Errorf("sealed = %v", got)
			}
			var wantTD []string
			if tc.wantTD {
				wantTD = want
			}
			if got := td.msgs(t); !slices.Equal(got, wantTD) {
				t.Errorf("td = %v, want %v", got, wantTD)
			}
		})
	}
}

func TestRacingFlushes(t *testing.T) {
	e := newTestEnv(t)
	e.throughEdge(t)
	td := newTDReceiver(t)
	ctx := context.Background()
	var want []string
	for i := range 12 {
		m := fmt.Sprintf("m%02d", i)
		e.stage(t, "db_one", "tbl_a", hourT-int64(i%3)*3600, false, fmt.Sprintf("p%02d", i), m)
		want = append(want, m)
	}
	now := time.Unix(hourT+7200, 0)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		h := e.handler(t, now, []Sink{td.sink()})
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.Handle(ctx, scheduled)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("flush: %v", err)
		}
	}
	// A final flush picks up anything a lost race released.
	if _, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, scheduled); err != nil {
		t.Fatal(err)
	}
	if got := e.sealedMsgs(t); !slices.Equal(got, want) {
		t.Errorf("sealed = %v, want %v", got, want)
	}
	if got := td.msgs(t); !slices.Equal(got, want) {
		t.Errorf("td = %v, want %v", got, want)
	}
	// The manifests that lost the claims were deleted with the winners'.
	if got := e.manifests(t); len(got) != 0 {
		t.Errorf("live manifests %v", got)
	}
}

func TestBadRequest(t *testing.T) {
	cases := []string{`{`, `{"source":"someone"}`, `{"source":"spillway.ingest","db":"Bad-Name"}`}
	cfg := DefaultConfig()
	cfg.Bucket, cfg.CatalogTable, cfg.ManifestTable, cfg.SealTargetBytes, cfg.MaxClaim = "b", "c", "m", 1, 1
	h, err := New(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			if _, err := h.Handle(context.Background(), json.RawMessage(c)); !errors.Is(err, ErrBadRequest) {
				t.Errorf("err = %v, want ErrBadRequest", err)
			}
		})
	}
}

// TestRunsTakeTheFlushRequest: a run fanout asked for takes the table's
// flush request (removes first_at and requested_at, sets flushed_at) before
// reading the staged items; a scheduled run does so only for a table with
// staged items (so that fanout's next commit starts a new cycle), and
// writes nothing for an idle table.
func TestRunsTakeTheFlushRequest(t *testing.T) {
	fromFanout := json.RawMessage(`{"source":"spillway.fanout","db":"db_one","table":"tbl_a"}`)
	cases := []struct {
		name      string
		payload   json.RawMessage
		stage     bool
		wantTaken bool
	}{
		{"fanout run, staged objects", fromFanout, true, true},
		{"fanout run, nothing staged", fromFanout, false, true},
		{"scheduled run, staged objects", scheduled, true, true},
		{"scheduled run, idle table", scheduled, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			td := newTDReceiver(t)
			ctx := context.Background()
			e.stage(t, "db_one", "tbl_a", hourT, false, "p0", "z0")
			if _, err := e.handler(t, time.Unix(hourT, 0), []Sink{td.sink()}).Handle(ctx, forced); err != nil {
				t.Fatal(err)
			}
			key := map[string]types.AttributeValue{layout.AttrPK: str(layout.RequestPK("db_one", "tbl_a")), layout.AttrSK: str(layout.FlushRequestSK)}
			if _, err := e.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.cfg.ManifestTable),
				Item: map[string]types.AttributeValue{layout.AttrPK: key[layout.AttrPK], layout.AttrSK: key[layout.AttrSK], "first_at": num(hourT), "requested_at": num(hourT)}}); err != nil {
				t.Fatal(err)
			}
			want := []string{"z0"}
			if tc.stage {
				e.stage(t, "db_one", "tbl_a", hourT, false, "p1", "a1")
				want = []string{"a1", "z0"}
			}
			if _, err := e.handler(t, time.Unix(hourT+60, 0), []Sink{td.sink()}).Handle(ctx, tc.payload); err != nil {
				t.Fatal(err)
			}
			out, err := e.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(e.cfg.ManifestTable), Key: key, ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			_, first := out.Item["first_at"]
			_, requested := out.Item["requested_at"]
			flushed, _ := out.Item["flushed_at"].(*types.AttributeValueMemberN)
			taken := !first && !requested && flushed != nil && flushed.Value == "1795341660"
			if taken != tc.wantTaken {
				t.Errorf("request item %v: taken = %v, want %v", out.Item, taken, tc.wantTaken)
			}
			if got := e.sealedMsgs(t); !slices.Equal(got, want) {
				t.Errorf("sealed = %v, want %v", got, want)
			}
		})
	}
}

// TestScheduledRunSweeps: a scheduled run that found work passes over the
// tables again after SweepEvery, and seals what was committed after its
// first pass; it stops at the first pass that finds nothing. Runs of other
// sources pass once.
func TestScheduledRunSweeps(t *testing.T) {
	for _, tc := range []struct {
		name       string
		payload    json.RawMessage
		wantPasses int
	}{{"scheduled", scheduled, 3}, {"forced", forced, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.cfg.SweepEvery = 100 * time.Millisecond
			td := newTDReceiver(t)
			ctx := context.Background()
			e.stage(t, "db_one", "tbl_a", hourT, false, "p1", "a1")
			passes := 0
			h := e.handler(t, time.Unix(hourT, 0), []Sink{td.sink()}, WithFault(func(_ context.Context, p string) error {
				if p == "after-pass" {
					passes++
					if passes == 1 { // a commit right after the first pass
						e.stage(t, "db_one", "tbl_a", hourT, false, "p2", "b1")
					}
				}
				return nil
			}))
			res, err := h.Handle(ctx, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if res.Passes != tc.wantPasses {
				t.Errorf("passes = %d, want %d", res.Passes, tc.wantPasses)
			}
			want := []string{"a1"}
			if tc.wantPasses > 1 {
				want = []string{"a1", "b1"}
			}
			if got := e.sealedMsgs(t); !slices.Equal(got, want) {
				t.Errorf("sealed = %v, want %v", got, want)
			}
		})
	}
}
