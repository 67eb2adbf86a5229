package esm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spillwayhq/spillway/local/moto"
)

// motoURL is the moto server shared by the tests in this package; each
// test uses its own stream, queue and bucket names.
var motoURL string

func TestMain(m *testing.M) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := moto.Start(ctx, moto.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start moto:", err)
		cancel()
		os.Exit(1)
	}
	motoURL = srv.URL()
	code := m.Run()
	_ = srv.Close()
	cancel()
	os.Exit(code)
}

type clients struct {
	kinesis *kinesis.Client
	sqs     *sqs.Client
	s3      *s3.Client
}

func newClients(tb testing.TB) clients {
	tb.Helper()
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	return clients{
		kinesis: kinesis.New(kinesis.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(motoURL)}),
		sqs:     sqs.New(sqs.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(motoURL)}),
		s3:      s3.New(s3.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(motoURL), UsePathStyle: true}),
	}
}

func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// newStream creates a one-shard stream named after the test and returns its ARN.
func newStream(tb testing.TB, c clients) string {
	tb.Helper()
	ctx := testCtx(tb)
	name := uniqueName(tb)
	if _, err := c.kinesis.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		tb.Fatalf("create stream: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = c.kinesis.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(name)})
	})
	out, err := c.kinesis.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		tb.Fatal(err)
	}
	return aws.ToString(out.StreamDescriptionSummary.StreamARN)
}

// put writes records one by one (moto loses records under concurrent
// writers) and returns their sequence numbers.
func put(tb testing.TB, c clients, streamARN string, data ...string) []string {
	tb.Helper()
	name, _ := streamName(streamARN)
	var seqs []string
	for i, d := range data {
		out, err := c.kinesis.PutRecord(testCtx(tb), &kinesis.PutRecordInput{
			StreamName: aws.String(name), Data: []byte(d), PartitionKey: aws.String(fmt.Sprintf("pk-%d", i)),
		})
		if err != nil {
			tb.Fatalf("put record: %v", err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	return seqs
}

// fakeFunction records the events it gets and answers with respond.
type fakeFunction struct {
	mu      sync.Mutex
	batches [][]events.KinesisEventRecord
	respond func(recs []events.KinesisEventRecord) ([]byte, error)
}

func (f *fakeFunction) invoke(_ context.Context, payload []byte) ([]byte, error) {
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.batches = append(f.batches, ev.Records)
	f.mu.Unlock()
	if f.respond != nil {
		return f.respond(ev.Records)
	}
	return []byte(`{"batchItemFailures":[]}`), nil
}

func (f *fakeFunction) data() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]string
	for _, b := range f.batches {
		var d []string
		for _, r := range b {
			d = append(d, string(r.Kinesis.Data))
		}
		out = append(out, d)
	}
	return out
}

// startPoller runs a poller until the test ends.
func startPoller(tb testing.TB, cfg Config) *Poller {
	tb.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	cfg.RetryBackoff = time.Millisecond
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	p, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return p
}

func waitIdle(tb testing.TB, p *Poller) {
	tb.Helper()
	if err := p.WaitIdle(testCtx(tb)); err != nil {
		tb.Fatal(err)
	}
}

func TestDeliversInOrderInBatches(t *testing.T) {
	c := newClients(t)
	arn := newStream(t, c)
	var want []string
	for i := range 25 {
		want = append(want, fmt.Sprintf("r%02d", i))
	}
	seqs := put(t, c, arn, want...)
	fn := &fakeFunction{}
	p := startPoller(t, Config{StreamARN: arn, BatchSize: 10, Invoke: fn.invoke, Kinesis: c.kinesis})
	waitIdle(t, p)

	var got []string
	for _, b := range fn.data() {
		if len(b) > 10 {
			t.Fatalf("batch of %d records, BatchSize is 10", len(b))
		}
		got = append(got, b...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	r := fn.batches[0][0]
	shard := "shardId-000000000000"
	if r.EventSource != "aws:kinesis" || r.EventVersion != "1.0" || r.EventName != "aws:kinesis:record" ||
		r.EventID != shard+":"+seqs[0] || r.EventSourceArn != arn || r.AwsRegion != "us-east-1" ||
		r.InvokeIdentityArn == "" || r.Kinesis.KinesisSchemaVersion != "1.0" || r.Kinesis.PartitionKey != "pk-0" ||
		r.Kinesis.SequenceNumber != seqs[0] || time.Since(r.Kinesis.ApproximateArrivalTimestamp.Time) > time.Minute {
		t.Fatalf("event record %+v", r)
	}
	st := p.Stats()
	if st.Batches != 3 || st.Records != 25 || st.Checkpoints[shard] != seqs[24] || st.Shards != 1 {
		t.Fatalf("stats %+v", st)
	}

	// More records after idle are picked up by the next WaitIdle.
	more := put(t, c, arn, "late1", "late2")
	waitIdle(t, p)
	if st := p.Stats(); st.Records != 27 || st.Checkpoints[shard] != more[1] {
		t.Fatalf("stats after more records %+v", st)
	}
}

func TestStartingPositionLatest(t *testing.T) {
	c := newClients(t)
	arn := newStream(t, c)
	put(t, c, arn, "old1", "old2")
	fn := &fakeFunction{}
	p := startPoller(t, Config{StreamARN: arn, StartingPosition: Latest, Invoke: fn.invoke, Kinesis: c.kinesis})
	waitIdle(t, p)
	put(t, c, arn, "new1")
	waitIdle(t, p)
	if got := fn.data(); len(got) != 1 || !slices.Equal(got[0], []string{"new1"}) {
		t.Fatalf("delivered %v, want only new1", got)
	}
}

func TestPartialBatchFailure(t *testing.T) {
	c := newClients(t)
	arn := newStream(t, c)
	seqs := put(t, c, arn, "a", "b", "c", "d", "e", "f")
	failed := false
	fn := &fakeFunction{respond: func(recs []events.KinesisEventRecord) ([]byte, error) {
		if failed {
			return []byte(`{"batchItemFailures":[]}`), nil
		}
		failed = true
		// Report d and c failed: the retry starts at c, the lowest.
		return json.Marshal(events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{
			{ItemIdentifier: recs[3].Kinesis.SequenceNumber}, {ItemIdentifier: recs[2].Kinesis.SequenceNumber},
		}})
	}}
	p := startPoller(t, Config{StreamARN: arn, ReportBatchItemFailures: true, Invoke: fn.invoke, Kinesis: c.kinesis})
	waitIdle(t, p)
	got := fn.data()
	want := [][]string{{"a", "b", "c", "d", "e", "f"}, {"c", "d", "e", "f"}}
	if len(got) != 2 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	st := p.Stats()
	if st.PartialFailures != 1 || st.Retries != 1 || st.Checkpoints["shardId-000000000000"] != seqs[5] {
		t.Fatalf("stats %+v", st)
	}
}

func TestFirstFailure(t *testing.T) {
	p := &Poller{cfg: Config{ReportBatchItemFailures: true}}
	recs := records("1", "2", "3")
	tests := []struct {
		name string
		resp string
		off  bool
		want int
	}{
		{name: "empty list", resp: `{"batchItemFailures":[]}`, want: 3},
		{name: "null", resp: `null`, want: 3},
		{name: "empty body", resp: ``, want: 3},
		{name: "no field", resp: `{}`, want: 3},
		{name: "lowest wins", resp: `{"batchItemFailures":[{"itemIdentifier":"3"},{"itemIdentifier":"2"}]}`, want: 1},
		{name: "unknown id fails all", resp: `{"batchItemFailures":[{"itemIdentifier":"9"}]}`, want: 0},
		{name: "empty id fails all", resp: `{"batchItemFailures":[{"itemIdentifier":""}]}`, want: 0},
		{name: "not json fails all", resp: `oops`, want: 0},
		{name: "feature off ignores failures", resp: `{"batchItemFailures":[{"itemIdentifier":"1"}]}`, off: true, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.cfg.ReportBatchItemFailures = !tt.off
			if got := p.firstFailure([]byte(tt.resp), recs); got != tt.want {
				t.Fatalf("firstFailure = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRetriesBisectAndSQSOnFailure(t *testing.T) {
	c := newClients(t)
	arn := newStream(t, c)
	ctx := testCtx(t)
	q, err := c.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(uniqueName(t))})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqsAttr{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	seqs := put(t, c, arn, "ok1", "ok2", "bad", "ok3")
	fn := &fakeFunction{respond: func(recs []events.KinesisEventRecord) ([]byte, error) {
		for _, r := range recs {
			if string(r.Kinesis.Data) == "bad" {
				return nil, fmt.Errorf("function error: cannot handle %s", r.Kinesis.SequenceNumber)
			}
		}
		return nil, nil
	}}
	p := startPoller(t, Config{
		StreamARN: arn, Invoke: fn.invoke, Kinesis: c.kinesis, SQS: c.sqs,
		BisectBatchOnFunctionError: true, MaximumRetryAttempts: 2,
		OnFailure: attrs.Attributes["QueueArn"], FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:fanout",
	})
	waitIdle(t, p)

	// [ok1 ok2 bad ok3] fails -> [ok1 ok2] ok, [bad ok3] fails -> [bad] fails
	// 3 times (1 + 2 retries) -> on-failure, [ok3] ok.
	want := [][]string{{"ok1", "ok2", "bad", "ok3"}, {"ok1", "ok2"}, {"bad", "ok3"}, {"bad"}, {"bad"}, {"bad"}, {"ok3"}}
	got := fn.data()
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	st := p.Stats()
	if st.Bisects != 2 || st.Retries != 2 || st.OnFailureBatches != 1 || st.OnFailureRecords != 1 ||
		st.Checkpoints["shardId-000000000000"] != seqs[3] {
		t.Fatalf("stats %+v", st)
	}
	msgs, err := c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 1 {
		t.Fatalf("%d messages in the on-failure queue, want 1", len(msgs.Messages))
	}
	var rec FailureRecord
	if err := json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &rec); err != nil {
		t.Fatal(err)
	}
	bi := rec.KinesisBatchInfo
	if rec.RequestContext.Condition != ConditionRetriesExhausted || rec.RequestContext.ApproximateInvokeCount != 5 ||
		rec.RequestContext.FunctionArn != "arn:aws:lambda:us-east-1:000000000000:function:fanout" ||
		bi.BatchSize != 1 || bi.StartSequenceNumber != seqs[2] || bi.EndSequenceNumber != seqs[2] || bi.StreamArn != arn ||
		bi.ShardID != "shardId-000000000000" || rec.Payload != "" || rec.ResponseContext == nil || rec.ResponseContext.FunctionError != "Unhandled" {
		t.Fatalf("invocation record %+v", rec)
	}
}

func TestRecordAgeToS3(t *testing.T) {
	c := newClients(t)
	arn := newStream(t, c)
	ctx := testCtx(t)
	bucket := strings.ToLower(uniqueName(t))
	if _, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	seqs := put(t, c, arn, "old1", "old2")
	fn := &fakeFunction{}
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	p := startPoller(t, Config{
		StreamARN: arn, Invoke: fn.invoke, Kinesis: c.kinesis, S3: c.s3, UUID: "mapping-1",
		MaximumRecordAge: time.Hour, OnFailure: "arn:aws:s3:::" + bucket, Now: later,
	})
	waitIdle(t, p)
	if got := fn.data(); len(got) != 0 {
		t.Fatalf("expired records were invoked: %v", got)
	}
	list, err := c.s3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 1 || !strings.HasPrefix(aws.ToString(list.Contents[0].Key), "aws/lambda/mapping-1/shardId-000000000000/") {
		t.Fatalf("objects %+v", list.Contents)
	}
	obj, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: list.Contents[0].Key})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	var rec FailureRecord
	if err := json.NewDecoder(obj.Body).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal([]byte(rec.Payload), &ev); err != nil {
		t.Fatalf("payload: %v", err)
	}
	if rec.RequestContext.Condition != ConditionRecordAge || rec.KinesisBatchInfo.BatchSize != 2 || len(ev.Records) != 2 ||
		string(ev.Records[1].Kinesis.Data) != "old2" || rec.ResponseContext != nil {
		t.Fatalf("invocation record %+v", rec)
	}
	if st := p.Stats(); st.Expired != 2 || st.Checkpoints["shardId-000000000000"] != seqs[1] {
		t.Fatalf("stats %+v", st)
	}
}

func TestBatchingWindow(t *testing.T) {
	c := newClients(t)
	arn := newStream(t, c)
	put(t, c, arn, "w1", "w2", "w3")
	fn := &fakeFunction{}
	// The window holds the first poll's records until it ends; the three
	// records arrive in one batch even though each poll could return them.
	p := startPoller(t, Config{StreamARN: arn, BatchSize: 100, MaximumBatchingWindow: 200 * time.Millisecond, Invoke: fn.invoke, Kinesis: c.kinesis})
	waitIdle(t, p)
	if got := fn.data(); len(got) != 1 || len(got[0]) != 3 {
		t.Fatalf("batches %v, want one of 3", got)
	}
}

func TestBatchLenPayloadLimit(t *testing.T) {
	big := make([]byte, 1024*1024)
	recs := records("1", "2", "3", "4", "5", "6")
	for i := range recs {
		recs[i].Data = big
	}
	if n := batchLen(recs, 100); n != 4 {
		t.Fatalf("batchLen of six 1 MiB records = %d, want 4 (base64 keeps 4 under 6 MB)", n)
	}
	if n := batchLen(recs, 2); n != 2 {
		t.Fatalf("batchLen with size 2 = %d", n)
	}
}
