package flush

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/layout"
)

// TestLostClaimLeavesTheTable: a run whose new manifest loses a claim (a
// racing run claimed the first staged key between this run's read of the
// staged items and its claim) aborts it and leaves the table to the run
// that won, instead of racing it again for the keys it has not claimed
// yet; a later run seals everything once.
func TestLostClaimLeavesTheTable(t *testing.T) {
	e := newTestEnv(t)
	td := newTDReceiver(t)
	ctx := context.Background()
	var want []string
	for i, p := range []string{"p1", "p2", "p3"} {
		msg := "m-" + p
		e.stage(t, "db_one", "tbl_a", hourT-3600*int64(1+i), false, p, msg)
		want = append(want, msg)
	}
	sort.Strings(want)
	keys := append(e.keys(t, layout.PrefixStaged), e.keys(t, layout.PrefixLate)...)
	sort.Strings(keys)
	racer := layout.NewManifestID()
	claimFirst := func(expr string) {
		t.Helper()
		in := &dynamodb.UpdateItemInput{TableName: aws.String(e.cfg.ManifestTable),
			Key:              map[string]types.AttributeValue{layout.AttrPK: str(layout.StagedPK("db_one", "tbl_a")), layout.AttrSK: str(keys[0])},
			UpdateExpression: aws.String(expr)}
		if expr != "REMOVE claimed_by" {
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":m": str(racer)}
		}
		if _, err := e.ddb.UpdateItem(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Unix(hourT, 0)
	raced := false
	h := e.handler(t, now, []Sink{td.sink()}, WithFault(func(_ context.Context, p string) error {
		if p == "after-manifest" && !raced {
			raced = true
			claimFirst("SET claimed_by = :m")
		}
		return nil
	}))
	res, err := h.Handle(ctx, forced)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifests != 1 || res.Aborted != 1 || res.SealedObjects != 0 {
		t.Errorf("racing run: %d manifests, %d aborted, %d sealed objects; want 1, 1, 0", res.Manifests, res.Aborted, res.SealedObjects)
	}
	if got := e.manifests(t); len(got) != 0 {
		t.Errorf("live manifests %v", got)
	}
	claimFirst("REMOVE claimed_by") // the racer finished without sealing it
	res, err = e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced)
	if err != nil || res.SealedObjects != 3 {
		t.Fatalf("later run: %+v, %v; want 3 sealed objects", res, err)
	}
	if got := e.sealedMsgs(t); !slices.Equal(got, want) {
		t.Errorf("sealed = %v, want %v", got, want)
	}
	if got := td.msgs(t); !slices.Equal(got, want) {
		t.Errorf("td = %v, want %v", got, want)
	}
	if got := e.keys(t, layout.PrefixManifests); len(got) != 0 {
		t.Errorf("manifest bodies left: %v", got)
	}
}

// TestLegacyManifestItemFinished: a manifest item written by a release
// before manifest bodies (its entries inline, no body object) is resumed
// and finished: every event sealed and imported once, nothing left.
func TestLegacyManifestItemFinished(t *testing.T) {
	e := newTestEnv(t)
	td := newTDReceiver(t)
	ctx := context.Background()
	e.stage(t, "db_one", "tbl_a", hourT-3600, false, "p1", "a1", "a2")
	e.stage(t, "db_one", "tbl_a", hourT-7200, false, "p2", "b1")
	keys := e.keys(t, layout.PrefixStaged)
	sort.Strings(keys)
	id := layout.NewManifestID()
	entries := &types.AttributeValueMemberL{}
	for _, k := range keys {
		entries.Value = append(entries.Value, &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": str(k), "e": num(1), "b": num(1)}})
		if _, err := e.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(e.cfg.ManifestTable),
			Key:              map[string]types.AttributeValue{layout.AttrPK: str(layout.StagedPK("db_one", "tbl_a")), layout.AttrSK: str(k)},
			UpdateExpression: aws.String("SET claimed_by = :m"), ExpressionAttributeValues: map[string]types.AttributeValue{":m": str(id)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.cfg.ManifestTable), Item: map[string]types.AttributeValue{
		"pk": str(layout.ManifestPK("db_one", "tbl_a")), "sk": str(id), "db": str("db_one"), "table": str("tbl_a"),
		"state": str(StateClaimed), "entries": entries, "created_at": num(hourT),
	}}); err != nil {
		t.Fatal(err)
	}
	res, err := e.handler(t, time.Unix(hourT, 0), []Sink{td.sink()}).Handle(ctx, forced)
	if err != nil || res.Resumed != 1 || res.SealedObjects != 2 {
		t.Fatalf("run: %+v, %v; want the legacy manifest resumed, 2 sealed objects", res, err)
	}
	want := []string{"a1", "a2", "b1"}
	if got := e.sealedMsgs(t); !slices.Equal(got, want) {
		t.Errorf("sealed = %v, want %v", got, want)
	}
	if got := td.msgs(t); !slices.Equal(got, want) {
		t.Errorf("td = %v, want %v", got, want)
	}
	if got := e.manifests(t); len(got) != 0 {
		t.Errorf("live manifests %v", got)
	}
	if got := e.keys(t, layout.PrefixStaged); len(got) != 0 {
		t.Errorf("staged left: %v", got)
	}
}
