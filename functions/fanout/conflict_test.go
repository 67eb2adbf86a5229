package fanout

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// conflictingDDB answers the first n transactions with a TransactionConflict
// cancellation, as DynamoDB does when another transaction holds an item.
type conflictingDDB struct {
	DynamoDBAPI
	n atomic.Int64
}

func (c *conflictingDDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if c.n.Add(-1) >= 0 {
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[len(reasons)-1].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("conflict"), CancellationReasons: reasons}
	}
	return c.DynamoDBAPI.TransactWriteItems(ctx, in, o...)
}

func TestTransactionConflictRetried(t *testing.T) {
	e := newTestEnv(t)
	ddb := &conflictingDDB{DynamoDBAPI: e.ddb}
	ddb.n.Store(3)
	h, err := New(e.cfg, e.s3, ddb, WithClock(func() time.Time { return time.Unix(hourT+1800, 0) }), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.Handle(context.Background(), batchOf(t))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %+v", err, resp)
	}
	if a, b := e.catalog(t, "db_one", "tbl_a"), e.catalog(t, "db_one", "tbl_b"); a.Count != 4 || b.Count != 2 {
		t.Errorf("counts = %d, %d; want 4, 2", a.Count, b.Count)
	}
}

// TestSchemaWidensAcrossBatches: a column seen as long, then as double,
// then as string ends as string; min/max only widen.
func TestSchemaWidensAcrossBatches(t *testing.T) {
	e := newTestEnv(t)
	h := e.handler(t, time.Unix(hourT+7200, 0))
	ctx := context.Background()
	for i, v := range []any{int64(1), 2.5, "x"} {
		raw := mp(t, map[string]any{"time": hourT + int64(100*i) - 100, "v": v})
		data := mustEnvelope(t, "db_one", "tbl_s", "w", i, raw)
		resp, err := h.Handle(ctx, events.KinesisEvent{Records: []events.KinesisEventRecord{rawRecord(i, data)}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batch %d: %v %+v", i, err, resp)
		}
		want := []string{TypeLong, TypeDouble, TypeString}[i]
		if got := e.catalog(t, "db_one", "tbl_s"); got.Schema["v"] != want || got.Min != hourT-100 || got.Max != hourT+int64(100*i)-100 {
			t.Errorf("after batch %d: %+v, want v=%s", i, got, want)
		}
	}
}
