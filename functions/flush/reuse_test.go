package flush

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/shared/layout"
)

// stagedItems returns every staged item of db_one.tbl_a, claimed or not.
func (e *testEnv) stagedItems(tb testing.TB) []map[string]types.AttributeValue {
	tb.Helper()
	out, err := e.ddb.Query(context.Background(), &dynamodb.QueryInput{TableName: aws.String(e.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(layout.StagedPK("db_one", "tbl_a"))}})
	if err != nil {
		tb.Fatal(err)
	}
	return out.Items
}

// TestStaleRunsAfterManifestFinished replays the make chaos run that left
// bench.cold_01 stuck (2026-12-07 17:36:54-17:37:02): run X creates the
// manifest of the table's staged keys and claims them, then stalls
// (throttling) before recording the claim; a racing run resumes the same
// manifest and finishes it (seals, deletes the staged objects and items,
// imports, deletes the manifest); then run C, which listed the staged
// items before they were claimed, creates its manifest of the same keys,
// and X records its claim. Manifest ids were the hash of the key set, so
// C recreated the finished manifest and X's open -> claimed landed on it:
// a claimed manifest whose staged objects were gone, resumed by every run
// with NoSuchKey forever. Each event must be sealed and imported once, and
// the table must flush again.
func TestStaleRunsAfterManifestFinished(t *testing.T) {
	e := newTestEnv(t)
	td := newTDReceiver(t)
	ctx := context.Background()
	e.stage(t, "db_one", "tbl_a", hourT, false, "p1", "a1")
	e.stage(t, "db_one", "tbl_a", hourT, false, "p2", "b1")
	now := time.Unix(hourT, 0)
	newRun := func() *runState { return &runState{res: &Result{}, force: true, backlog: map[string]int64{}} }

	x := e.handler(t, now, []Sink{td.sink()})
	items, err := x.staged(ctx, "db_one", "tbl_a")
	if err != nil {
		t.Fatal(err)
	}
	due := x.due(items, newRun())
	mx, err := x.createManifest(ctx, "db_one", "tbl_a", due)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := x.claim(ctx, mx); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	// A racing run finishes the manifest.
	if _, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced); err != nil {
		t.Fatalf("racing run: %v", err)
	}
	// C creates its manifest from its stale listing; X records its claim.
	c := e.handler(t, now, []Sink{td.sink()})
	mc, err := c.createManifest(ctx, "db_one", "tbl_a", due)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.setState(ctx, mx, StateClaimed, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := x.run(ctx, mx, newRun()); err != nil {
		t.Errorf("stale run X: %v", err)
	}
	if err := c.run(ctx, mc, newRun()); err != nil {
		t.Errorf("stale run C: %v", err)
	}
	for i := range 2 {
		if _, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced); err != nil {
			t.Fatalf("later run %d: %v", i, err)
		}
	}
	if got := e.manifests(t); len(got) != 0 {
		t.Errorf("live manifests %v", got)
	}
	if got := e.stagedItems(t); len(got) != 0 {
		t.Errorf("staged items left: %v", got)
	}
	want := []string{"a1", "b1"}
	if got := e.sealedMsgs(t); !slices.Equal(got, want) {
		t.Errorf("sealed = %v, want %v", got, want)
	}
	if got := td.msgs(t); !slices.Equal(got, want) {
		t.Errorf("td = %v, want %v", got, want)
	}
}

// TestMissingStagedObjectDoesNotStickTable: a claimed manifest one of whose
// staged objects is gone although no run sealed it is given up once
// instead of failing with NoSuchKey on every run: the item of the missing
// object is dropped (nothing can seal it; counted as Missing), the other
// objects are released and sealed once by a new manifest. The second case
// is what the bug above left in the chaos run: a claimed manifest whose
// object and item a finished manifest of the same keys had deleted (its
// events sealed and imported then: nothing is missing).
func TestMissingStagedObjectDoesNotStickTable(t *testing.T) {
	for _, tc := range []struct {
		name        string
		deleteItem  bool
		wantMissing int
	}{
		{"object gone", false, 1},
		{"object and item gone", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			td := newTDReceiver(t)
			ctx := context.Background()
			e.stage(t, "db_one", "tbl_a", hourT, false, "p1", "a1")
			e.stage(t, "db_one", "tbl_a", hourT, false, "p2", "b1")
			now := time.Unix(hourT, 0)
			crash := WithFault(func(_ context.Context, p string) error {
				if p == "after-claim" {
					return errCrash
				}
				return nil
			})
			if _, err := e.handler(t, now, []Sink{td.sink()}, crash).Handle(ctx, forced); err == nil {
				t.Fatal("first run: no error")
			}
			lost := layout.StagedKey(false, layout.PartitionOf("db_one", "tbl_a", hourT), "p1")
			if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(lost)}); err != nil {
				t.Fatal(err)
			}
			if tc.deleteItem {
				if _, err := e.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(e.cfg.ManifestTable),
					Key: map[string]types.AttributeValue{layout.AttrPK: str(layout.StagedPK("db_one", "tbl_a")), layout.AttrSK: str(lost)}}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced)
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if res.Missing != tc.wantMissing {
				t.Errorf("missing = %d, want %d", res.Missing, tc.wantMissing)
			}
			if _, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced); err != nil {
				t.Fatalf("next run: %v", err)
			}
			if got := e.manifests(t); len(got) != 0 {
				t.Errorf("live manifests %v", got)
			}
			if got := e.stagedItems(t); len(got) != 0 {
				t.Errorf("staged items left: %v", got)
			}
			want := []string{"b1"}
			if got := e.sealedMsgs(t); !slices.Equal(got, want) {
				t.Errorf("sealed = %v, want %v", got, want)
			}
			if got := td.msgs(t); !slices.Equal(got, want) {
				t.Errorf("td = %v, want %v", got, want)
			}
		})
	}
}
