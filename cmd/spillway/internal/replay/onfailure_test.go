package replay

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// failureMessage is the on-failure record a Kinesis event source mapping
// sends to SQS (AWS Lambda developer guide, "Retain discarded batch records
// for a Kinesis Data Streams event source").
func failureMessage(arn, shard, start, end string, size int) string {
	return fmt.Sprintf(`{
  "requestContext": {"requestId": "c9b8fa9f-5a7f-4e69-8d4e-1a1b3f8c0e2d", "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:spw-fanout", "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
  "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
  "version": "1.0",
  "timestamp": "2026-12-07T10:12:13.123Z",
  "KinesisBatchInfo": {"shardId": %q, "startSequenceNumber": %q, "endSequenceNumber": %q,
    "approximateArrivalOfFirstRecord": "2026-12-07T10:00:00.000Z", "approximateArrivalOfLastRecord": "2026-12-07T10:00:01.000Z",
    "batchSize": %d, "streamArn": %q}
}`, shard, start, end, size, arn)
}

func (e *testEnv) send(tb testing.TB, body string) {
	tb.Helper()
	must(tb, "send message", func() error {
		_, err := e.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(e.cfg.QueueURL), MessageBody: aws.String(body)})
		return err
	})
}

// TestReplayOnFailure: the records an on-failure pointer names are read
// from the stream and put back, and fanout stores each once (one of them
// was stored before the batch failed); pointers to records the stream no
// longer holds are reported and kept unless DeleteExpired; a dry run and a
// second replay change nothing.
func TestReplayOnFailure(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	ts := now.Unix()
	seqs := e.putStream(t, envelopeData(t, "web", "access", "u1", ts))
	e.fanoutNew(t, now) // u1 was stored ...
	seqs = append(seqs, e.putStream(t, envelopeData(t, "web", "access", "u2", ts), envelopeData(t, "web", "access", "u3", ts, ts))...)
	e.consumed = len(e.streamRecords(t)) // ... and the ESM gave up on the batch u1..u3
	e.send(t, failureMessage(e.arn, "shardId-000000000000", seqs[0], seqs[2], 3))
	e.send(t, failureMessage(e.arn, "shardId-000000000007", "49650000000000000000000000000000000000000000000000000001", "49650000000000000000000000000000000000000000000000000002", 2))
	e.send(t, `{"not": "an on-failure record"}`)

	before := e.state(t)
	// A wrong stream is an error for each pointer, never "records missing"
	// (which DeleteExpired would drop).
	res, out := e.replay(t, SourceOnFailure, now, func(c *Config) { c.Stream, c.DeleteExpired = "no-such-stream", true })
	if res != (Result{Source: SourceOnFailure, Found: 3, Left: 3}) || !strings.Contains(out, "describe stream no-such-stream") {
		t.Fatalf("replay from a wrong stream = %+v\n%s", res, out)
	}
	if after := e.state(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("replay from a wrong stream changed state:\n%+v\n%+v", before, after)
	}
	res, out = e.replay(t, SourceOnFailure, now, func(c *Config) { c.DryRun = true })
	if res != (Result{Source: SourceOnFailure, Found: 3, Replayed: 1, Left: 2, Missing: 2}) || !strings.Contains(out, "would put 3 records") ||
		!strings.Contains(out, "missing 2 of 2 records") {
		t.Fatalf("dry run = %+v\n%s", res, out)
	}
	if after := e.state(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("dry run changed state:\n%+v\n%+v", before, after)
	}

	res, out = e.replay(t, SourceOnFailure, now, nil)
	if res != (Result{Source: SourceOnFailure, Found: 3, Replayed: 1, Left: 2, Missing: 2}) {
		t.Fatalf("replay = %+v\n%s", res, out)
	}
	if n := len(e.streamRecords(t)); n != 6 {
		t.Fatalf("stream holds %d records, want 3 + 3 replayed", n)
	}
	if q, v := e.queueDepth(t), e.visible(t); q != 2 || v != 2 {
		t.Fatalf("queue holds %d messages (%d visible), want the 2 not replayed, visible", q, v)
	}
	e.fanoutNew(t, now)
	want := []string{"u1-0", "u2-0", "u3-0", "u3-1"}
	if got := e.stored(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("fanout stored %v, want %v", got, want)
	}

	before = e.state(t)
	if res, _ := e.replay(t, SourceOnFailure, now, nil); res != (Result{Source: SourceOnFailure, Found: 2, Left: 2, Missing: 2}) {
		t.Fatalf("second replay = %+v", res)
	}
	if after := e.state(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("second replay changed state:\n%+v\n%+v", before, after)
	}

	res, _ = e.replay(t, SourceOnFailure, now, func(c *Config) { c.DeleteExpired = true })
	if res != (Result{Source: SourceOnFailure, Found: 2, Replayed: 1, Left: 1, Missing: 2}) || e.queueDepth(t) != 1 {
		t.Fatalf("replay with DeleteExpired = %+v, queue %d", res, e.queueDepth(t))
	}
}
