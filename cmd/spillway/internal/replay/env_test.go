package replay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/local/kinesismock"
	"github.com/spillwayhq/spillway/local/mototest"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// kinesis-mock is started once per test binary (it takes seconds) and
// stopped by TestMain, as moto is (mototest.Shared).
var (
	kmOnce sync.Once
	kmSrv  *kinesismock.Server
	kmErr  error
	envSeq atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if kmSrv != nil {
		if err := kmSrv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close kinesis-mock:", err)
			code = 1
		}
	}
	if err := mototest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "close moto:", err)
		code = 1
	}
	os.Exit(code)
}

func kinesisMock(tb testing.TB) *kinesismock.Server {
	tb.Helper()
	kmOnce.Do(func() { kmSrv, kmErr = kinesismock.Start(context.Background(), kinesismock.Options{}) })
	if kmErr != nil {
		tb.Fatalf("start kinesis-mock: %v", kmErr)
	}
	return kmSrv
}

// testEnv is one deployment's worth of real emulated resources: a bucket,
// DynamoDB tables and the real fanout handler, an SQS queue and a secret
// (moto), a one-shard stream (kinesis-mock) and a TD endpoint (tdtest).
type testEnv struct {
	cfg      Config
	clients  Clients
	s3       *s3.Client
	kin      *kinesis.Client
	sqs      *sqs.Client
	sm       *secretsmanager.Client
	ddb      *dynamodb.Client
	fcfg     fanout.Config
	arn      string
	td       *tdtest.Server
	consumed int // stream records fanout has been given
}

func newEnv(tb testing.TB) *testEnv {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := envSeq.Add(1)
	moto := mototest.Shared(tb).URL()
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	e := &testEnv{
		s3:   s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), UsePathStyle: true, Credentials: creds}),
		sqs:  sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), Credentials: creds}),
		sm:   secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), Credentials: creds}),
		ddb:  dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto), Credentials: creds}),
		kin:  kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(kinesisMock(tb).URL()), Credentials: creds}),
		fcfg: fanout.DefaultConfig(),
	}
	e.cfg = DefaultConfig()
	e.cfg.PollWait = 0
	e.cfg.Bucket = fmt.Sprintf("replay%d", n)
	e.cfg.Stream = fmt.Sprintf("replay%d-%d", os.Getpid(), n)
	e.fcfg.Bucket, e.fcfg.AutoCreate, e.fcfg.CommitConcurrency = e.cfg.Bucket, true, 1 // moto: see fanout's own tests
	e.fcfg.CatalogTable, e.fcfg.LedgerTable, e.fcfg.ManifestTable = fmt.Sprintf("catalog%d", n), fmt.Sprintf("ledger%d", n), fmt.Sprintf("manifests%d", n)
	must(tb, "create bucket", func() error {
		_, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(e.cfg.Bucket)})
		return err
	})
	mototest.CreateTable(tb, ctx, e.ddb, e.fcfg.CatalogTable, "db", "table")
	mototest.CreateTable(tb, ctx, e.ddb, e.fcfg.LedgerTable, "id")
	mototest.CreateTable(tb, ctx, e.ddb, e.fcfg.ManifestTable, "pk", "sk")
	q, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("failures%d", n))})
	if err != nil {
		tb.Fatalf("create queue: %v", err)
	}
	e.cfg.QueueURL = aws.ToString(q.QueueUrl)
	must(tb, "create stream", func() error {
		_, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(e.cfg.Stream), ShardCount: aws.Int32(1)})
		return err
	})
	tb.Cleanup(func() {
		_, _ = e.kin.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(e.cfg.Stream)})
	})
	for {
		out, err := e.kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(e.cfg.Stream)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive {
			e.arn = aws.ToString(out.StreamDescriptionSummary.StreamARN)
			break
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("stream %s not active: %v", e.cfg.Stream, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tdCfg := tdtest.DefaultConfig()
	tdCfg.AutoCreate = true
	tdCfg.Fail = func(db, table, uid string) int {
		if strings.HasPrefix(uid, "bad") {
			return 422
		}
		return 0
	}
	e.td, err = tdtest.Serve(context.Background(), ln, tdCfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.td.Close() })
	e.cfg.TDSecret = fmt.Sprintf("td-keys-%d", n)
	must(tb, "create secret", func() error {
		_, err := e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(e.cfg.TDSecret),
			SecretString: aws.String(fmt.Sprintf(`{%q: %q}`, e.td.URL(), e.td.APIKey()))})
		return err
	})
	e.clients = Clients{S3: e.s3, Kinesis: e.kin, SQS: e.sqs, Secrets: e.sm}
	return e
}

func must(tb testing.TB, what string, fn func() error) {
	tb.Helper()
	if err := fn(); err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

// replay runs one source with cfg adjusted by mod at clock now and returns
// its result and report.
func (e *testEnv) replay(tb testing.TB, source string, now time.Time, mod func(*Config)) (Result, string) {
	tb.Helper()
	cfg := e.cfg
	if mod != nil {
		mod(&cfg)
	}
	var out bytes.Buffer
	r := New(cfg, e.clients, &out, WithClock(func() time.Time { return now }), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
	res, err := r.Run(context.Background(), source)
	if err != nil {
		tb.Fatalf("replay %s: %v\n%s", source, err, out.String())
	}
	return res, out.String()
}

// putObject stores body at key.
func (e *testEnv) putObject(tb testing.TB, key string, body []byte) {
	tb.Helper()
	must(tb, "put "+key, func() error {
		_, err := e.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
		return err
	})
}

// objects returns every key with its ETag, under prefix.
func (e *testEnv) objects(tb testing.TB, prefix string) map[string]string {
	tb.Helper()
	got := map[string]string{}
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range page.Contents {
			got[aws.ToString(o.Key)] = aws.ToString(o.ETag)
		}
	}
	return got
}

// streamRecords returns every record of the stream's one shard.
func (e *testEnv) streamRecords(tb testing.TB) []ktypes.Record {
	tb.Helper()
	ctx := context.Background()
	shards, err := e.kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(e.cfg.Stream)})
	if err != nil || len(shards.Shards) != 1 {
		tb.Fatalf("list shards: %v", err)
	}
	it, err := e.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(e.cfg.Stream), ShardId: shards.Shards[0].ShardId, ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		tb.Fatal(err)
	}
	var recs []ktypes.Record
	for iter := it.ShardIterator; iter != nil; {
		out, err := e.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			tb.Fatal(err)
		}
		recs = append(recs, out.Records...)
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			break
		}
		iter = out.NextShardIterator
	}
	return recs
}

// putStream writes records to the stream as ingest does and returns their
// sequence numbers.
func (e *testEnv) putStream(tb testing.TB, data ...[]byte) []string {
	tb.Helper()
	var seqs []string
	for _, d := range data {
		env, err := envelope.Unmarshal(d)
		if err != nil {
			tb.Fatal(err)
		}
		out, err := e.kin.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String(e.cfg.Stream), Data: d, PartitionKey: aws.String(envelope.PartitionKey(env))})
		if err != nil {
			tb.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	return seqs
}

// fanoutNew hands the stream records fanout has not seen to the real fanout
// handler, as the event source mapping would.
func (e *testEnv) fanoutNew(tb testing.TB, now time.Time) {
	tb.Helper()
	recs := e.streamRecords(tb)[e.consumed:]
	e.consumed += len(recs)
	if len(recs) == 0 {
		return
	}
	ev := events.KinesisEvent{}
	for _, r := range recs {
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			EventID: "shardId-000000000000:" + aws.ToString(r.SequenceNumber), EventSourceArn: e.arn, EventName: "aws:kinesis:record",
			Kinesis: events.KinesisRecord{SequenceNumber: aws.ToString(r.SequenceNumber), PartitionKey: aws.ToString(r.PartitionKey), Data: r.Data,
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: aws.ToTime(r.ApproximateArrivalTimestamp)}},
		})
	}
	h, err := fanout.New(e.fcfg, e.s3, e.ddb, fanout.WithClock(func() time.Time { return now }), fanout.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		tb.Fatalf("fanout: %v %+v", err, resp)
	}
}

// stored returns the "msg" of every event in staged and late objects,
// sorted: what fanout stored.
func (e *testEnv) stored(tb testing.TB) []string {
	tb.Helper()
	var msgs []string
	for _, prefix := range []string{layout.PrefixStaged, layout.PrefixLate} {
		for key := range e.objects(tb, prefix) {
			msgs = append(msgs, e.messages(tb, key)...)
		}
	}
	sort.Strings(msgs)
	return msgs
}

// messages decodes the "msg" of every event of a gzip msgpack object.
func (e *testEnv) messages(tb testing.TB, key string) []string {
	tb.Helper()
	out, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	raw, err := tdrecord.Gunzip(body, tdrecord.StoreLimits(envelope.MaxPayloadRaw), nil)
	if err != nil {
		tb.Fatalf("%s: %v", key, err)
	}
	recs, err := tdrecord.Decode(raw, tdrecord.StoreLimits(envelope.MaxPayloadRaw))
	if err != nil {
		tb.Fatalf("%s: %v", key, err)
	}
	var msgs []string
	for _, r := range recs {
		msgs = append(msgs, fmt.Sprint(r["msg"]))
	}
	return msgs
}

// queueDepth is the number of messages in the on-failure queue, visible or
// not.
func (e *testEnv) queueDepth(tb testing.TB) int {
	tb.Helper()
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.cfg.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		tb.Fatal(err)
	}
	var n int
	for _, a := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		var v int
		fmt.Sscan(out.Attributes[string(a)], &v)
		n += v
	}
	return n
}

// visible is the number of messages visible now (a dry run leaves each
// message visible).
func (e *testEnv) visible(tb testing.TB) int {
	tb.Helper()
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.cfg.QueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		tb.Fatal(err)
	}
	var v int
	fmt.Sscan(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], &v)
	return v
}

// state is everything a replay may change.
type state struct {
	Objects map[string]string
	Stream  int
	Queue   int
	Visible int
	TD      tdtest.Stats
}

func (e *testEnv) state(tb testing.TB) state {
	tb.Helper()
	st := e.td.Stats()
	st.Requests, st.Formats = 0, nil // reads are not changes
	return state{Objects: e.objects(tb, ""), Stream: len(e.streamRecords(tb)), Queue: e.queueDepth(tb), Visible: e.visible(tb), TD: st}
}

// envelopeData builds one part's record data: events msg = <uid>-<i> at
// the given times.
func envelopeData(tb testing.TB, db, table, uid string, times ...int64) []byte {
	tb.Helper()
	data, err := envelope.Marshal(&envelope.Envelope{DB: db, Table: table, UniqueID: uid, Part: 0, Parts: 1, Producer: "test",
		Events: len(times), ReceivedMS: 1, Encoding: envelope.EncodingGzip, Payload: gzipEvents(tb, uid, times...)})
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// gzipEvents is a TD import body of events msg = <prefix>-<i>.
func gzipEvents(tb testing.TB, prefix string, times ...int64) []byte {
	tb.Helper()
	var raws [][]byte
	for i, t := range times {
		b, err := msgpack.Marshal(map[string]any{"time": t, "msg": fmt.Sprintf("%s-%d", prefix, i)})
		if err != nil {
			tb.Fatal(err)
		}
		raws = append(raws, b)
	}
	return tdrecord.GzipStream(raws...)
}
