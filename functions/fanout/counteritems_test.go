package fanout

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/layout"
)

// TestCounterItemsSettingChange: lowering or raising CounterItems between
// deployments never hides counts. Commits written with 64 counter items
// (most of them on items a 1-item writer never touches), then with 1, then
// with layout.MaxCounterItems, are all summed by the catalog reader.
func TestCounterItemsSettingChange(t *testing.T) {
	e := newTestEnv(t)
	const db, table, batches, parts = "db_ci", "tbl_ci", 4, 3
	now := time.Unix(hourT+1800, 0)
	var want int64
	for _, items := range []int{64, 1, layout.MaxCounterItems} {
		e.cfg.CounterItems = items
		h := e.handler(t, now)
		for b := range batches {
			var recs []events.KinesisEventRecord
			for p := range parts {
				recs = append(recs, mkRecord(t, db, table, fmt.Sprintf("ci%d-b%d-p%d", items, b, p), 0, 1, p, hourT+int64(p), hourT+int64(p)+1))
			}
			resp, err := h.Handle(context.Background(), events.KinesisEvent{Records: recs})
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("counter items %d, batch %d: %v %+v", items, b, err, resp)
			}
			want += 2 * parts
		}
		if got := e.catalog(t, db, table).Count; got != want {
			t.Errorf("after commits with %d counter items: catalog count %d, want %d", items, got, want)
		}
	}
	// The check means something only if counts sit on items beyond the
	// 1-item setting's item 0.
	lo, hi := layout.TableItemsRange(table)
	out, err := e.ddb.Query(context.Background(), &dynamodb.QueryInput{
		TableName: aws.String(e.cfg.CatalogTable), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:   aws.String("#db = :db AND #t BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#db": layout.AttrCatalogDB, "#t": layout.AttrCatalogTable},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":db": &types.AttributeValueMemberS{Value: db}, ":lo": &types.AttributeValueMemberS{Value: lo}, ":hi": &types.AttributeValueMemberS{Value: hi},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	beyond := 0
	for _, it := range out.Items {
		h, r := it[layout.AttrCatalogDB].(*types.AttributeValueMemberS), it[layout.AttrCatalogTable].(*types.AttributeValueMemberS)
		if _, _, n, ok, err := layout.ParseCounterKey(h.Value, r.Value); ok && err == nil && n > 0 {
			beyond++
		}
	}
	if beyond == 0 {
		t.Errorf("no counter item other than item 0 was written (%d items); the test checked nothing", len(out.Items))
	}
}
