package fanout

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// recordingDDB records the catalog keys every transaction and every
// UpdateItem writes, and the update expressions of the UpdateItems.
type recordingDDB struct {
	DynamoDBAPI
	catalog string
	mu      sync.Mutex
	txKeys  []string // "db/table" of each catalog action in a transaction
	updates []string // "db/table: expression" of each catalog UpdateItem
}

func catalogKeyString(k map[string]types.AttributeValue) string {
	db, _ := k["db"].(*types.AttributeValueMemberS)
	tb, _ := k["table"].(*types.AttributeValueMemberS)
	if db == nil || tb == nil {
		return ""
	}
	return db.Value + "/" + tb.Value
}

func (r *recordingDDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	r.mu.Lock()
	for _, it := range in.TransactItems {
		if it.Update != nil && aws.ToString(it.Update.TableName) == r.catalog {
			r.txKeys = append(r.txKeys, catalogKeyString(it.Update.Key))
		}
	}
	r.mu.Unlock()
	return r.DynamoDBAPI.TransactWriteItems(ctx, in, o...)
}

func (r *recordingDDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if aws.ToString(in.TableName) == r.catalog {
		r.mu.Lock()
		r.updates = append(r.updates, catalogKeyString(in.Key)+": "+aws.ToString(in.UpdateExpression))
		r.mu.Unlock()
	}
	return r.DynamoDBAPI.UpdateItem(ctx, in, o...)
}

// TestCommitsLeaveTableItemCold: no commit transaction writes a table's
// own catalog item (every batch of a busy table would serialise on it);
// counters go to the table's counter items, and the folded catalog still
// counts every event once, redeliveries included.
func TestCommitsLeaveTableItemCold(t *testing.T) {
	e := newTestEnv(t)
	rec := &recordingDDB{DynamoDBAPI: e.ddb, catalog: e.cfg.CatalogTable}
	h, err := New(e.cfg, e.s3, rec, WithClock(func() time.Time { return time.Unix(hourT+1800, 0) }), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	for _, delivery := range []string{"first", "redelivery"} {
		resp, err := h.Handle(context.Background(), batchOf(t))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%s: %v %+v", delivery, err, resp)
		}
	}
	if len(rec.txKeys) == 0 {
		t.Fatal("no transaction updated the catalog")
	}
	for _, k := range rec.txKeys {
		if k == "db_one/tbl_a" || k == "db_one/tbl_b" {
			t.Errorf("a commit transaction updates the table item %s", k)
		}
	}
	if a, b := e.catalog(t, "db_one", "tbl_a"), e.catalog(t, "db_one", "tbl_b"); a.Count != 4 || b.Count != 2 || a.Bytes == 0 {
		t.Errorf("counts = %+v, %+v; want 4, 2", a, b)
	}
}

// TestSteadyStateKeepsSchema: once a table's columns are known, later
// batches with the same columns never rewrite the schema, even when they
// widen the time range.
func TestSteadyStateKeepsSchema(t *testing.T) {
	e := newTestEnv(t)
	rec := &recordingDDB{DynamoDBAPI: e.ddb, catalog: e.cfg.CatalogTable}
	h, err := New(e.cfg, e.s3, rec, WithClock(func() time.Time { return time.Unix(hourT+7200, 0) }), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		resp, err := h.Handle(context.Background(), events.KinesisEvent{Records: []events.KinesisEventRecord{
			mkRecord(t, "db_one", "tbl_s", fmt.Sprintf("u%d", i), 0, 1, i, hourT+int64(10*i)),
		}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("batch %d: %v %+v", i, err, resp)
		}
	}
	schemaWrites := 0
	for _, u := range rec.updates {
		if strings.Contains(u, "#s") || strings.Contains(u, "schema") {
			schemaWrites++
		}
	}
	if schemaWrites != 1 {
		t.Errorf("%d schema writes in 3 batches of the same columns, want 1: %q", schemaWrites, rec.updates)
	}
	if c := e.catalog(t, "db_one", "tbl_s"); c.Count != 3 || c.Min != hourT || c.Max != hourT+20 || c.Schema["n"] != TypeLong {
		t.Errorf("catalog = %+v", c)
	}
}
