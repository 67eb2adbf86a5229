package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/local/kinesismock"
	"github.com/spillwayhq/spillway/local/mototest"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// TestReplayThroughSDKChain runs the command as an operator would: names
// from a `terraform output -json` file, clients from the standard SDK chain
// with AWS_ENDPOINT_URL (moto) and AWS_ENDPOINT_URL_KINESIS (kinesis-mock).
// A dry run of every source changes nothing and exits 0; the replay of a
// quarantined record puts it back and exits 0; a record left behind exits 1.
func TestReplayThroughSDKChain(t *testing.T) {
	clearEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	moto := mototest.Start(t)
	km, err := kinesismock.Start(ctx, kinesismock.Options{})
	if err != nil {
		t.Fatalf("start kinesis-mock: %v", err)
	}
	t.Cleanup(func() { _ = km.Close() })
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": moto.URL(), "AWS_ENDPOINT_URL_KINESIS": km.URL(), "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		t.Setenv(k, v)
	}
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s3c, kin, sq, sm := s3.NewFromConfig(cfg, awsconf.S3PathStyle), kinesis.NewFromConfig(cfg), sqs.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("spw-data")})
	must(err)
	_, err = kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("spw-events"), ShardCount: aws.Int32(1)})
	must(err)
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("spw-fanout-failures")})
	must(err)
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("spw-td"), SecretString: aws.String(`{}`)})
	must(err)
	for {
		out, err := kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("spw-events")})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stream not active: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	outputs := filepath.Join(t.TempDir(), "outputs.json")
	doc := fmt.Sprintf(`{"bucket": {"value": "spw-data"}, "stream_name": {"value": "spw-events"},
		"on_failure_queue_url": {"value": %q}, "td_apikey_secret_arn": {"value": %q}}`, aws.ToString(q.QueueUrl), aws.ToString(sec.ARN))
	must(os.WriteFile(outputs, []byte(doc), 0o600))

	quarantine := func(seq string, data []byte) {
		t.Helper()
		b, _ := json.Marshal(fanout.QuarantineRecord{Reason: "test", ShardID: "shardId-000000000000", SequenceNumber: seq, PartitionKey: "pk", Data: data})
		_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("spw-data"), Key: aws.String(layout.QuarantineRecordKey("shardId-000000000000", seq)), Body: bytes.NewReader(b)})
		must(err)
	}
	data, err := envelope.Marshal(&envelope.Envelope{DB: "web", Table: "access", UniqueID: "u1", Parts: 1, Events: 1, Encoding: envelope.EncodingGzip,
		Payload: tdrecord.GzipStream([]byte{0x81, 0xa4, 't', 'i', 'm', 'e', 0x01})})
	must(err)
	quarantine("1", data)
	streamLen := func() int {
		t.Helper()
		it, err := kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("spw-events"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		must(err)
		out, err := kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		must(err)
		return len(out.Records)
	}
	cli := func(args ...string) (int, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(ctx, args, &stdout, &stderr, slog.New(slog.NewJSONHandler(io.Discard, nil)))
		return code, stdout.String() + stderr.String()
	}

	code, out := cli("replay", "-outputs", outputs, "-dry-run", "all")
	if code != exitOK || !strings.Contains(out, "records: found 1, would replay 1") || streamLen() != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	code, out = cli("replay", "records", "-outputs", outputs)
	if code != exitOK || !strings.Contains(out, "records: found 1, replayed 1, left 0") || streamLen() != 1 {
		t.Fatalf("replay: exit %d\n%s", code, out)
	}
	quarantine("2", []byte("Hello World"))
	code, out = cli("replay", "-outputs", outputs, "records")
	if code != exitFailed || !strings.Contains(out, "left 1") || streamLen() != 1 {
		t.Fatalf("replay with a record left: exit %d\n%s", code, out)
	}
}
