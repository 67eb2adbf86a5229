package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/local/edge"
)

// edgeEnv is a testEnv whose clients go through a local edge in front of
// the test binary's moto: DynamoDB writes are serialised for moto, and
// transactions that meet an item another in-flight transaction holds are
// cancelled with TransactionConflict, as on AWS.
type edgeEnv struct {
	*testEnv
	edge *edge.Server
}

func newEdgeEnv(tb testing.TB) *edgeEnv {
	tb.Helper()
	e := newTestEnv(tb)
	srv, err := edge.Start(context.Background(), edge.Config{Addr: "127.0.0.1:0", Backend: motoServer(tb).URL()})
	if err != nil {
		tb.Fatalf("start edge: %v", err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	e.s3 = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), UsePathStyle: true, Credentials: creds})
	// No SDK retries: the handler's own retries are what is measured.
	e.ddb = dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), Credentials: creds, RetryMaxAttempts: 1})
	e.cfg.CommitConcurrency = DefaultConfig().CommitConcurrency
	return &edgeEnv{testEnv: e, edge: srv}
}

// hotDDB counts transactions and catalog condition failures.
type hotDDB struct {
	DynamoDBAPI
	tx, txFailed, updates, updateCCF atomic.Int64
}

func (c *hotDDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := c.DynamoDBAPI.TransactWriteItems(ctx, in, o...)
	c.tx.Add(1)
	if err != nil {
		c.txFailed.Add(1)
	}
	return out, err
}

func (c *hotDDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := c.DynamoDBAPI.UpdateItem(ctx, in, o...)
	c.updates.Add(1)
	var ccf *types.ConditionalCheckFailedException
	if err != nil && errors.As(err, &ccf) {
		c.updateCCF.Add(1)
	}
	return out, err
}

// hotLoad is the outcome of concurrent fanout invocations on one table.
type hotLoad struct {
	batches, failedBatches int
	tx, txFailed           int64 // transactions sent, and cancelled or failed
	updates, updateCCF     int64 // catalog UpdateItems, and their condition failures
	conflicts              int64 // TransactionConflict cancellations the edge answered
	elapsed                time.Duration
}

// runHotLoad runs `workers` concurrent invocations (each its own Handler,
// as separate Lambda environments), each handling `batches` batches of
// `parts` parts of one table, every event an hour apart from no other.
func runHotLoad(tb testing.TB, e *edgeEnv, workers, batches, parts int) hotLoad {
	tb.Helper()
	ddb := &hotDDB{DynamoDBAPI: e.ddb}
	now := time.Unix(hourT+1800, 0)
	e.edge.ResetFaultCounters()
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	for w := range workers {
		h, err := New(e.cfg, e.s3, ddb, WithClock(func() time.Time { return now }), WithLogger(slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelError}))))
		if err != nil {
			tb.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				var recs []events.KinesisEventRecord
				for p := range parts {
					recs = append(recs, mkRecord(tb, "db_hot", "tbl_hot", fmt.Sprintf("w%db%dp%d", w, b, p), 0, 1, p, hourT+int64(b*parts+p)))
				}
				resp, err := h.Handle(context.Background(), events.KinesisEvent{Records: recs})
				if err != nil || len(resp.BatchItemFailures) != 0 {
					failed.Add(1)
					tb.Logf("worker %d batch %d failed: %v %+v", w, b, err, resp)
				}
			}
		}()
	}
	wg.Wait()
	_, counters := e.edge.Faults()
	return hotLoad{
		batches: workers * batches, failedBatches: int(failed.Load()),
		tx: ddb.tx.Load(), txFailed: ddb.txFailed.Load(), updates: ddb.updates.Load(), updateCCF: ddb.updateCCF.Load(),
		conflicts: counters["dynamodb.TransactWriteItems.TransactionConflict"] + counters["dynamodb.UpdateItem.TransactionConflictException"],
		elapsed:   time.Since(start),
	}
}

// tbWriter writes log lines to the test log (safe for concurrent use).
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// TestHotTableThroughEdge: concurrent invocations of one table (shards x
// parallelization factor) against the conflict-faithful edge all commit,
// and the catalog counts every event exactly once.
func TestHotTableThroughEdge(t *testing.T) {
	e := newEdgeEnv(t)
	const workers, batches, parts = 8, 3, 3
	got := runHotLoad(t, e, workers, batches, parts)
	t.Logf("%+v", got)
	if got.failedBatches != 0 {
		t.Errorf("%d of %d batches failed", got.failedBatches, got.batches)
	}
	c := e.catalog(t, "db_hot", "tbl_hot")
	if want := int64(workers * batches * parts); c.Count != want || c.Min != hourT || c.Max != hourT+int64(batches*parts-1) {
		t.Errorf("catalog = %+v, want count %d", c, want)
	}
}

// BenchmarkHotTableCommits measures concurrent commits of one table
// through the conflict-faithful edge: 16 concurrent invocations (e.g. 4
// shards x parallelization factor 4), each batch 4 parts of the table,
// with the table's counts spread over 1, 16 or 64 (the default) counter
// items. Reported: TransactionConflict cancellations and failed
// transactions per 1,000 committed transactions, catalog UpdateItems and
// their condition failures per 1,000 batches, batches that failed, and
// committed batches per second.
//
//	go test ./functions/fanout -run '^$' -bench HotTableCommits -benchtime 160x
func BenchmarkHotTableCommits(b *testing.B) {
	for _, items := range []int{1, 16, DefaultConfig().CounterItems} {
		b.Run(fmt.Sprintf("counter-items=%d", items), func(b *testing.B) {
			e := newEdgeEnv(b)
			e.cfg.CounterItems = items
			const workers, parts = 16, 4
			batches := max(1, b.N/workers)
			b.ResetTimer()
			got := runHotLoad(b, e, workers, batches, parts)
			b.StopTimer()
			reportHotLoad(b, got)
		})
	}
}

func reportHotLoad(b *testing.B, got hotLoad) {
	ok := got.tx - got.txFailed
	if ok == 0 {
		b.Fatalf("nothing committed: %+v", got)
	}
	b.ReportMetric(float64(got.conflicts)*1000/float64(ok), "conflicts/1k-commits")
	b.ReportMetric(float64(got.txFailed)*1000/float64(ok), "tx-retries/1k-commits")
	b.ReportMetric(float64(got.updateCCF)*1000/float64(got.batches), "catalog-ccf/1k-batches")
	b.ReportMetric(float64(got.updates)*1000/float64(got.batches), "catalog-updates/1k-batches")
	b.ReportMetric(float64(got.failedBatches), "failed-batches")
	b.ReportMetric(float64(got.batches-got.failedBatches)/got.elapsed.Seconds(), "batches/s")
}
