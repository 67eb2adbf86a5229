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
