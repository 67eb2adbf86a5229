package fanout

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// countingDDB counts the DynamoDB calls fanout makes.
type countingDDB struct {
	DynamoDBAPI
	n, ns atomic.Int64
}

func (c *countingDDB) done(start time.Time) { c.n.Add(1); c.ns.Add(int64(time.Since(start))) }

func (c *countingDDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	defer c.done(time.Now())
	return c.DynamoDBAPI.GetItem(ctx, in, o...)
}

func (c *countingDDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	defer c.done(time.Now())
	return c.DynamoDBAPI.UpdateItem(ctx, in, o...)
}

func (c *countingDDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	defer c.done(time.Now())
	return c.DynamoDBAPI.BatchGetItem(ctx, in, o...)
}

func (c *countingDDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	defer c.done(time.Now())
	return c.DynamoDBAPI.TransactWriteItems(ctx, in, o...)
}

// countingS3 counts the S3 calls fanout makes.
type countingS3 struct {
	S3API
	n, ns atomic.Int64
}

func (c *countingS3) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	defer func(start time.Time) { c.n.Add(1); c.ns.Add(int64(time.Since(start))) }(time.Now())
	return c.S3API.PutObject(ctx, in, o...)
}

// BenchmarkHandleBatch measures one ESM batch of 10 records x 100 corpus
// events (1,000 events, one table) against moto, and the AWS calls it makes.
func BenchmarkHandleBatch(b *testing.B) {
	e := newTestEnv(b)
	evs := corpusEvents(b)[:1000]
	var size int64
	for _, r := range evs {
		size += int64(len(r))
	}
	ddb, s3c := &countingDDB{DynamoDBAPI: e.ddb}, &countingS3{S3API: e.s3}
	h, err := New(e.cfg, s3c, ddb, WithClock(func() time.Time { return time.Date(2015, 5, 22, 0, 0, 0, 0, time.UTC) }),
		WithLogger(discardLogger()))
	if err != nil {
		b.Fatal(err)
	}
	batch := func(i int) events.KinesisEvent {
		var ev events.KinesisEvent
		for p := 0; p < 10; p++ {
			data, err := envelope.Marshal(&envelope.Envelope{DB: "bench_db", Table: "apache", UniqueID: fmt.Sprintf("b%d", i), Part: p, Parts: 10,
				Events: 100, Encoding: envelope.EncodingGzip, Payload: tdrecord.GzipStream(evs[p*100 : (p+1)*100]...)})
			if err != nil {
				b.Fatal(err)
			}
			ev.Records = append(ev.Records, rawRecord(p, data))
		}
		return ev
	}
	b.ReportAllocs()
	b.SetBytes(size)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ev := batch(i)
		b.StartTimer()
		resp, err := h.Handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			b.Fatalf("handle: %v %+v", err, resp)
		}
	}
	b.ReportMetric(float64(ddb.n.Load())/float64(b.N), "ddb-calls/1k-events")
	b.ReportMetric(float64(s3c.n.Load())/float64(b.N), "s3-calls/1k-events")
	b.ReportMetric(float64(ddb.ns.Load())/float64(b.N)/1e6, "ddb-ms/op")
	b.ReportMetric(float64(s3c.ns.Load())/float64(b.N)/1e6, "s3-ms/op")
}

// BenchmarkDecodePayload decodes one part's payload (the first 5,000 corpus
// events) in each envelope encoding, as ingest writes them: gzip as a TD
// client sends it, zstd as ingest's parts (SpeedFastest, 1 MiB window).
func BenchmarkDecodePayload(b *testing.B) {
	evs := corpusEvents(b)[:5000]
	var size int64
	for _, r := range evs {
		size += int64(len(r))
	}
	payloads := []struct {
		enc     string
		payload []byte
	}{
		{envelope.EncodingGzip, tdrecord.GzipStream(evs...)},
		{envelope.EncodingZstd, encodeZstd(b, 0, evs...)},
	}
	for _, p := range payloads {
		b.Run(p.enc, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(size)
			for b.Loop() {
				if _, _, err := DecodePayload(p.enc, p.payload, 64<<20); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(p.payload)), "payload-bytes")
		})
	}
}
