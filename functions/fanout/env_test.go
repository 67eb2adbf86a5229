package fanout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/local/moto"
	"github.com/spillwayhq/spillway/local/mototest"
	"github.com/spillwayhq/spillway/shared/catalog"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// testEnv is a moto server with the Spillway tables and bucket.
type testEnv struct {
	s3  *s3.Client
	ddb *dynamodb.Client
	cfg Config
}

func newTestEnv(tb testing.TB) *testEnv {
	tb.Helper()
	ctx := context.Background()
	n := envSeq.Add(1)
	srv := motoServer(tb)
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	e := &testEnv{
		s3:  s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), UsePathStyle: true, Credentials: creds}),
		ddb: dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), Credentials: creds}),
		cfg: DefaultConfig(),
	}
	e.cfg.AutoCreate = true
	// These tests talk to moto directly, without the local edge that
	// serialises DynamoDB writes, and moto's TransactWriteItems is not
	// isolated (a cancelled transaction restores every table it touched).
	e.cfg.CommitConcurrency = 1
	e.cfg.Bucket = fmt.Sprintf("spw%d", n)
	e.cfg.CatalogTable, e.cfg.LedgerTable, e.cfg.ManifestTable = fmt.Sprintf("catalog%d", n), fmt.Sprintf("ledger%d", n), fmt.Sprintf("manifests%d", n)
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(e.cfg.Bucket)}); err != nil {
		tb.Fatalf("create bucket: %v", err)
	}
	mototest.CreateTable(tb, ctx, e.ddb, e.cfg.CatalogTable, "db", "table")
	mototest.CreateTable(tb, ctx, e.ddb, e.cfg.LedgerTable, "id")
	mototest.CreateTable(tb, ctx, e.ddb, e.cfg.ManifestTable, "pk", "sk")
	return e
}

func (e *testEnv) handler(tb testing.TB, now time.Time, opts ...Option) *Handler {
	tb.Helper()
	opts = append([]Option{WithClock(func() time.Time { return now }), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil)))}, opts...)
	h, err := New(e.cfg, e.s3, e.ddb, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// mkRecord builds one Kinesis record holding an envelope with the given event times.
func mkRecord(tb testing.TB, db, table, uid string, part, parts int, seq int, times ...int64) events.KinesisEventRecord {
	tb.Helper()
	var raws [][]byte
	for i, t := range times {
		b, err := msgpack.Marshal(map[string]any{"time": t, "msg": fmt.Sprintf("%s-%d-%d", uid, part, i), "n": int64(i)})
		if err != nil {
			tb.Fatal(err)
		}
		raws = append(raws, b)
	}
	data, err := envelope.Marshal(&envelope.Envelope{DB: db, Table: table, UniqueID: uid, Part: part, Parts: parts,
		Producer: "test", Events: len(times), ReceivedMS: 1, Encoding: envelope.EncodingGzip, Payload: tdrecord.GzipStream(raws...)})
	if err != nil {
		tb.Fatal(err)
	}
	return rawRecord(seq, data)
}

func rawRecord(seq int, data []byte) events.KinesisEventRecord {
	s := fmt.Sprintf("%056d", seq)
	return events.KinesisEventRecord{
		EventID: "shardId-000000000000:" + s, EventSourceArn: "arn:aws:kinesis:us-east-1:000000000000:stream/s",
		Kinesis: events.KinesisRecord{SequenceNumber: s, PartitionKey: "pk", Data: data},
	}
}

type catalogCounts struct {
	Count, Bytes, Late, Future, Min, Max int64
	Schema                               map[string]string
}

func (e *testEnv) catalog(tb testing.TB, db, table string) catalogCounts {
	tb.Helper()
	c, _, err := catalog.ReadTable(context.Background(), e.ddb, e.cfg.CatalogTable, db, table, true)
	if err != nil {
		tb.Fatal(err)
	}
	out := catalogCounts{Count: c.Count, Bytes: c.Bytes, Late: c.LateCount, Future: c.FutureCount, Min: c.MinTime, Max: c.MaxTime, Schema: c.Schema}
	if out.Schema == nil {
		out.Schema = map[string]string{}
	}
	return out
}

// keys lists the object keys under prefix.
func (e *testEnv) keys(tb testing.TB, prefix string) []string {
	tb.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		pg, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range pg.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	sort.Strings(out)
	return out
}

// stagedItems counts staged items and their events for a table.
func (e *testEnv) stagedItems(tb testing.TB, db, table string) (items, evs int) {
	tb.Helper()
	p := dynamodb.NewQueryPaginator(e.ddb, &dynamodb.QueryInput{TableName: aws.String(e.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(layout.StagedPK(db, table))}})
	for p.HasMorePages() {
		pg, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, it := range pg.Items {
			items++
			x, _ := strconv.Atoi(it["events"].(*types.AttributeValueMemberN).Value)
			evs += x
		}
	}
	return items, evs
}

// stagedEvents decodes every object under prefix and returns the sorted event messages.
func (e *testEnv) stagedEvents(tb testing.TB, prefix string) []string {
	tb.Helper()
	var out []string
	for _, k := range e.keys(tb, prefix) {
		obj, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(k)})
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		evs, _, err := DecodePayload(envelope.EncodingGzip, body, 1<<30)
		if err != nil {
			tb.Fatalf("%s: %v", k, err)
		}
		for _, ev := range evs {
			var m map[string]any
			if err := msgpack.Unmarshal(ev.Raw, &m); err != nil {
				tb.Fatal(err)
			}
			out = append(out, m["msg"].(string))
		}
	}
	sort.Strings(out)
	return out
}

// envSeq numbers the test envs: each uses its own bucket and tables on the
// test binary's one moto server (mototest.Shared, started by the first test
// that needs it; fuzzing and unit tests never start it).
var envSeq atomic.Int64

func motoServer(tb testing.TB) *moto.Server { return mototest.Shared(tb) }

func TestMain(m *testing.M) {
	code := m.Run()
	if err := mototest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "close moto:", err)
	}
	os.Exit(code)
}

func mustEnv(db, table string) *envelope.Envelope {
	return &envelope.Envelope{DB: db, Table: table, UniqueID: "u", Parts: 1, Encoding: envelope.EncodingGzip}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func mustEnvelope(tb testing.TB, db, table, uid string, part int, raw []byte) []byte {
	tb.Helper()
	data, err := envelope.Marshal(&envelope.Envelope{DB: db, Table: table, UniqueID: uid, Part: part, Parts: part + 1,
		Events: 1, Encoding: envelope.EncodingGzip, Payload: tdrecord.GzipStream(raw)})
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
