package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestRealKinesisEventQuarantined feeds aws-lambda-go's real Kinesis event
// fixture (data "Hello World", not an envelope): both records are
// quarantined with their coordinates and the batch succeeds.
func TestRealKinesisEventQuarantined(t *testing.T) {
	e := newTestEnv(t)
	raw, err := os.ReadFile("testdata/kinesis-event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.KinesisEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := e.handler(t, time.Now()).Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %+v", err, resp)
	}
	keys := e.keys(t, "quarantine/")
	if len(keys) != 2 {
		t.Fatalf("quarantine = %v, want 2 objects", keys)
	}
	for i, k := range keys {
		obj, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		var q QuarantineRecord
		if err := json.Unmarshal(body, &q); err != nil {
			t.Fatal(err)
		}
		if q.ShardID != "shardId-000000000000" || q.SequenceNumber != ev.Records[i].Kinesis.SequenceNumber ||
			!strings.Contains(q.Reason, "not a spillway envelope") || string(q.Data) != "Hello World" {
			t.Errorf("quarantine doc %s = %+v", k, q)
		}
	}
}

// failingS3 fails PutObject for keys containing substr.
type failingS3 struct {
	S3API
	substr string
}

func (f *failingS3) PutObject(ctx context.Context, in *s3.PutObjectInput, o ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if strings.Contains(aws.ToString(in.Key), f.substr) {
		return nil, errors.New("injected s3 failure")
	}
	return f.S3API.PutObject(ctx, in, o...)
}

// TestPartialFailureReportsFromLowest: when a pack cannot be staged, the
// response names its first record and every later one (tbl_b's part, which
// committed, too); redelivering from there completes the batch exactly
// once.
func TestPartialFailureReportsFromLowest(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	now := time.Unix(hourT+1800, 0)
	h, err := New(e.cfg, &failingS3{S3API: e.s3, substr: "/table=tbl_a/"}, e.ddb, WithClock(func() time.Time { return now }), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	ev := batchOf(t)
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	want := []string{ev.Records[0].Kinesis.SequenceNumber, ev.Records[1].Kinesis.SequenceNumber, ev.Records[2].Kinesis.SequenceNumber}
	if !slices.Equal(got, want) {
		t.Fatalf("failures = %v, want %v", got, want)
	}
	if b := e.catalog(t, "db_one", "tbl_b"); b.Count != 2 {
		t.Errorf("tbl_b count after the first delivery = %d, want 2 (its pack committed)", b.Count)
	}
	redeliver := events.KinesisEvent{Records: ev.Records}
	if resp, err := e.handler(t, now).Handle(ctx, redeliver); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %v %+v", err, resp)
	}
	if a, b := e.catalog(t, "db_one", "tbl_a"), e.catalog(t, "db_one", "tbl_b"); a.Count != 4 || b.Count != 2 {
		t.Errorf("counts = %d, %d; want 4, 2", a.Count, b.Count)
	}
	if got := e.stagedEvents(t, "staged/"); !slices.Equal(got, wantMsgs()) {
		t.Errorf("staged = %v", got)
	}
}
