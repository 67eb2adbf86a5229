package flush

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/shared/layout"
)

// TestStaleResumeOfFinishedManifest: a run holding a manifest it read
// before another run finished (and deleted) it - racing flushes - stops
// without an error, without importing twice and without leaving a
// stateless manifest item behind: from claimed (its staged objects are
// gone) and from stored (its imports were recorded by the other run).
func TestStaleResumeOfFinishedManifest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash string // where the first run stops, leaving the manifest live
		down  bool   // the endpoint is down for the first run
	}{
		{"stale at claimed", "after-claim", false},
		{"stale at stored", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			td := newTDReceiver(t)
			ctx := context.Background()
			e.stage(t, "db_one", "tbl_a", hourT, false, "p1", "a1", "a2")
			now := time.Unix(hourT, 0)
			if tc.down {
				td.setDown(503)
			}
			first := e.handler(t, now, []Sink{td.sink()}, WithFault(func(_ context.Context, p string) error {
				if p == tc.crash {
					return errCrash
				}
				return nil
			}))
			if _, err := first.Handle(ctx, forced); err == nil {
				t.Fatal("first run: no error")
			}
			stale, err := first.openManifests(ctx, "db_one", "tbl_a")
			if err != nil || len(stale) != 1 {
				t.Fatalf("live manifests %v, %v", stale, err)
			}
			td.setDown(0)
			if _, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced); err != nil {
				t.Fatalf("second run: %v", err)
			}
			h := e.handler(t, now, []Sink{td.sink()})
			if err := h.run(ctx, stale[0], &runState{res: &Result{}, force: true, backlog: map[string]int64{}}); err != nil && !errors.Is(err, errFault) {
				t.Errorf("stale resume: %v", err)
			}
			out, err := e.ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(e.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
				Key: map[string]types.AttributeValue{layout.AttrPK: str(layout.ManifestPK("db_one", "tbl_a")), layout.AttrSK: str(stale[0].ID)}})
			if err != nil || out.Item != nil {
				t.Errorf("manifest item after the stale resume: %v %v, want none", out.Item, err)
			}
			if got := td.msgs(t); !slices.Equal(got, []string{"a1", "a2"}) {
				t.Errorf("td = %v", got)
			}
		})
	}
}

// TestFinishRetriesConflictingDeletes: a run resuming a sealed manifest
// whose staged items a racing run partly deleted deletes the rest (the
// deleted one fails its condition); an item another run's transaction
// holds answers TransactionConflictException, more times in a row than the
// SDK's own retries (seen in the e2e suite's racing flushes). The delete
// is retried, and the run finishes the manifest.
func TestFinishRetriesConflictingDeletes(t *testing.T) {
	e := newTestEnv(t)
	td := newTDReceiver(t)
	ctx := context.Background()
	ed := e.throughEdge(t)
	e.stage(t, "db_one", "tbl_a", hourT, false, "p1", "a1")
	e.stage(t, "db_one", "tbl_a", hourT, false, "p2", "b1")
	now := time.Unix(hourT, 0)
	crash := WithFault(func(_ context.Context, p string) error {
		if p == "before-delete" {
			return errCrash
		}
		return nil
	})
	if _, err := e.handler(t, now, []Sink{td.sink()}, crash).Handle(ctx, forced); !errors.Is(err, errCrash) {
		t.Fatalf("first run: err = %v, want the crash", err)
	}
	// The racing run deleted one staged item.
	items, err := (&Handler{cfg: e.cfg, ddb: e.ddb}).staged(ctx, "db_one", "tbl_a")
	if err != nil || len(items) != 0 {
		t.Fatalf("unclaimed staged items %v (err %v), want none: the manifest claims both", items, err)
	}
	out, err := e.ddb.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(e.cfg.ManifestTable), KeyConditionExpression: aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(layout.StagedPK("db_one", "tbl_a"))}})
	if err != nil || len(out.Items) != 2 {
		t.Fatalf("staged items %d (err %v), want 2", len(out.Items), err)
	}
	if _, err := e.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(e.cfg.ManifestTable),
		Key: map[string]types.AttributeValue{layout.AttrPK: out.Items[0][layout.AttrPK], layout.AttrSK: out.Items[0][layout.AttrSK]}}); err != nil {
		t.Fatal(err)
	}
	if err := ed.SetFaults(edge.FaultConfig{Rules: []edge.FaultRule{
		{Service: "dynamodb", Operation: "DeleteItem", Next: 4, Status: 400, Code: "TransactionConflictException"},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if _, counters := ed.Faults(); counters["dynamodb.DeleteItem.TransactionConflictException"] != 4 {
		t.Errorf("injected %v, want 4 conflicts on DeleteItem", counters)
	}
	want := []string{"a1", "b1"}
	if got := td.msgs(t); !slices.Equal(got, want) {
		t.Errorf("td = %v, want %v", got, want)
	}
	if got := e.manifests(t); len(got) != 0 {
		t.Errorf("live manifests %v", got)
	}
}

// TestStaleOpenResumeNeverMovesBack: a run resuming a manifest it read as
// open, after a racing run claimed, sealed and stored it (its TD import
// still to come), loses its first claim (the staged item is gone), finds the
// manifest moved on, and must carry on from where the racing run left it:
// never move it back to claimed (found by `make chaos`: the manifest was
// then given up as missing its staged objects, and its events, sealed in
// S3, never reached TD or the lake). Every event is imported exactly once.
func TestStaleOpenResumeNeverMovesBack(t *testing.T) {
	e := newTestEnv(t)
	td := newTDReceiver(t)
	ctx := context.Background()
	e.stage(t, "db_one", "tbl_a", hourT, false, "p1", "a1", "a2")
	now := time.Unix(hourT, 0)
	first := e.handler(t, now, []Sink{td.sink()}, WithFault(func(_ context.Context, p string) error {
		if p == "after-manifest" {
			return errCrash
		}
		return nil
	}))
	if _, err := first.Handle(ctx, forced); err == nil {
		t.Fatal("first run: no error")
	}
	stale, err := first.openManifests(ctx, "db_one", "tbl_a")
	if err != nil || len(stale) != 1 || stale[0].State != StateOpen {
		t.Fatalf("live manifests %v, %v; want one open", stale, err)
	}
	td.setDown(503) // the racing run stores the manifest but cannot import it
	if _, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced); err == nil {
		t.Fatal("racing run: no error while TD is down")
	}
	if cur, err := first.getManifest(ctx, "db_one", "tbl_a", stale[0].ID); err != nil || cur.State != StateStored {
		t.Fatalf("after the racing run: %+v, %v; want stored", cur, err)
	}
	td.setDown(0)
	h := e.handler(t, now, []Sink{td.sink()})
	if err := h.run(ctx, stale[0], &runState{res: &Result{}, force: true, backlog: map[string]int64{}}); err != nil {
		t.Errorf("stale resume: %v", err)
	}
	if _, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced); err != nil {
		t.Fatalf("later run: %v", err)
	}
	if got := td.msgs(t); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("td = %v, want [a1 a2]", got)
	}
	if got := e.sealedMsgs(t); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("sealed = %v, want [a1 a2]", got)
	}
	if got := e.manifests(t); len(got) != 0 {
		t.Errorf("live manifests %v", got)
	}
}
