package fanout

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// parallelDDB records how transactions overlap: it holds each one until
// `want` are in flight at once (or a deadline passes), fails the test if two
// transactions of one table overlap, then runs them one at a time against
// moto, as the local edge does (moto's TransactWriteItems is not isolated).
type parallelDDB struct {
	DynamoDBAPI
	tb       testing.TB
	want     int
	mu       sync.Mutex
	inflight int
	perTable map[string]int
	ready    chan struct{} // closed once want transactions were in flight together
	once     sync.Once
	moto     sync.Mutex
}

func (p *parallelDDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	table := catalogKeyOf(in)
	p.mu.Lock()
	p.inflight++
	p.perTable[table]++
	if p.perTable[table] > 1 {
		p.tb.Errorf("two transactions of %s in flight at once", table)
	}
	if p.inflight == p.want {
		p.once.Do(func() { close(p.ready) })
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		p.perTable[table]--
		p.mu.Unlock()
	}()
	select {
	case <-p.ready:
	case <-time.After(5 * time.Second):
	}
	p.moto.Lock()
	defer p.moto.Unlock()
	return p.DynamoDBAPI.TransactWriteItems(ctx, in, o...)
}

// catalogKeyOf returns "db.table" of the catalog update in a commit.
func catalogKeyOf(in *dynamodb.TransactWriteItemsInput) string {
	for _, it := range in.TransactItems {
		if it.Update != nil {
			db, _ := it.Update.Key["db"].(*types.AttributeValueMemberS)
			tb, _ := it.Update.Key["table"].(*types.AttributeValueMemberS)
			if db != nil && tb != nil {
				return db.Value + "." + tb.Value
			}
		}
	}
	return ""
}

// TestCommitConcurrencyAcrossTables: with CommitConcurrency 2 the two tables
// of a batch commit at the same time, a table's own parts never overlap, and
// a redelivery changes nothing.
func TestCommitConcurrencyAcrossTables(t *testing.T) {
	e := newTestEnv(t)
	e.cfg.CommitConcurrency = 2
	ddb := &parallelDDB{DynamoDBAPI: e.ddb, tb: t, want: 2, perTable: map[string]int{}, ready: make(chan struct{})}
	h, err := New(e.cfg, e.s3, ddb, WithClock(func() time.Time { return time.Unix(hourT+1800, 0) }), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	for _, delivery := range []string{"first", "redelivery"} {
		resp, err := h.Handle(context.Background(), batchOf(t))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%s: %v %+v", delivery, err, resp)
		}
		if a, b := e.catalog(t, "db_one", "tbl_a"), e.catalog(t, "db_one", "tbl_b"); a.Count != 4 || b.Count != 2 {
			t.Errorf("%s: counts = %d, %d; want 4, 2", delivery, a.Count, b.Count)
		}
	}
	select {
	case <-ddb.ready:
	default:
		t.Error("the two tables never committed at the same time")
	}
}
