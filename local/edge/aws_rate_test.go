package edge

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Unix(1_800_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestS3KeyLength(t *testing.T) {
	ctx := context.Background()
	e := startEdge(t, Config{})
	sc := s3.NewFromConfig(awsConfig(t, e.URL()), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := uniqueName(t, "keys")
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("k", S3MaxKeyBytes-len("dir/é")) // é is 2 bytes: 1,024 bytes in all
	tests := []struct {
		name, key string
		limit     bool
		want      string
	}{
		{"1,024 bytes", "dir/é" + long, true, ""},
		{"1,025 bytes", "dir/é" + long + "x", true, "KeyTooLongError"},
		{"1,025 bytes, NoS3KeyLimit (moto accepts it)", "dir/é" + long + "y", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.SetAWSBehaviours(AWSBehaviours{NoS3KeyLimit: !tt.limit}); err != nil {
				t.Fatal(err)
			}
			_, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(tt.key), Body: bytes.NewReader([]byte("x"))})
			if got := apiCode(err); got != tt.want {
				t.Fatalf("PutObject: %v (code %q), want %q", err, got, tt.want)
			}
			var ae smithy.APIError
			if tt.want != "" && (!errors.As(err, &ae) || ae.ErrorMessage() != "Your key is too long") {
				t.Fatalf("message: %v", err)
			}
		})
	}
}

func TestS3SlowDown(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	e := startEdge(t, Config{AWS: AWSBehaviours{S3WritesPerSecond: 2, S3ReadsPerSecond: 3, Now: clock.Now}})
	sc := s3.NewFromConfig(awsConfig(t, e.URL()), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := uniqueName(t, "rate")
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	put := func(key string) error {
		_, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("x"))})
		return err
	}
	get := func(key string) error {
		out, err := sc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err == nil {
			_ = out.Body.Close()
		}
		return err
	}
	del := func(key string) error {
		_, err := sc.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		return err
	}
	steps := []struct {
		name    string
		call    func() error
		advance time.Duration
		want    string
	}{
		{"1st write to a/", func() error { return put("a/1") }, 0, ""},
		{"2nd write to a/", func() error { return put("a/2") }, 0, ""},
		{"3rd write to a/ in the same second", func() error { return put("a/3") }, 0, "SlowDown"},
		{"a delete counts as a write", func() error { return del("a/1") }, 0, "SlowDown"},
		{"another prefix has its own rate", func() error { return put("b/1") }, 0, ""},
		{"a nested prefix is another prefix", func() error { return put("a/x/1") }, 0, ""},
		{"reads have their own rate (1)", func() error { return get("a/1") }, 0, ""},
		{"reads (2)", func() error { return get("a/2") }, 0, ""},
		{"reads (3)", func() error { return get("a/1") }, 0, ""},
		{"4th read in the same second", func() error { return get("a/1") }, 0, "SlowDown"},
		{"next second: writes again", func() error { return put("a/3") }, time.Second, ""},
		{"next second: reads again", func() error { return get("a/3") }, 0, ""},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		err := st.call()
		if got := apiCode(err); got != st.want {
			t.Fatalf("%s: %v (code %q), want %q", st.name, err, got, st.want)
		}
		var re interface{ HTTPStatusCode() int }
		if st.want == "SlowDown" && (!errors.As(err, &re) || re.HTTPStatusCode() != 503) {
			t.Fatalf("%s: %v, want HTTP 503", st.name, err)
		}
	}
	_, counters := e.Faults()
	if counters["s3.PutObject.SlowDown"] != 1 || counters["s3.GetObject.SlowDown"] != 1 || counters["s3.DeleteObject.SlowDown"] != 1 {
		t.Fatalf("counters = %v", counters)
	}
	t.Run("NoS3SlowDown", func(t *testing.T) {
		if err := e.SetAWSBehaviours(AWSBehaviours{NoS3SlowDown: true, S3WritesPerSecond: 1, Now: clock.Now}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if err := put("c/1"); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
	})
	t.Run("AWS defaults", func(t *testing.T) {
		if err := e.SetAWSBehaviours(AWSBehaviours{}); err != nil {
			t.Fatal(err)
		}
		b := e.AWSBehaviours()
		if b.S3WritesPerSecond != 3500 || b.S3ReadsPerSecond != 5500 || b.KinesisShardRecordsPerSecond != 1000 || b.KinesisShardBytesPerSecond != 1<<20 {
			t.Fatalf("defaults %+v", b)
		}
	})
}

// createStreamShards creates a provisioned stream with n shards.
func createStreamShards(t testing.TB, kc *kinesis.Client, name string, n int32) {
	t.Helper()
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(n)}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	w := kinesis.NewStreamExistsWaiter(kc, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 200 * time.Millisecond
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("wait for stream: %v", err)
	}
}

func TestKinesisShardLimits(t *testing.T) {
	ctx := context.Background()
	clock := newTestClock()
	e := startEdge(t, Config{AWS: AWSBehaviours{KinesisShardRecordsPerSecond: 3, Now: clock.Now}})
	kc := kinesis.NewFromConfig(awsConfig(t, e.URL()))
	stream := uniqueName(t, "lim")
	createStreamShards(t, kc, stream, 2)
	// Explicit hash keys address each shard of two: 0 is in the first half
	// of the hash key space, 2^127 in the second.
	shard0, shard1 := "0", new(big.Int).Lsh(big.NewInt(1), 127).String()
	entry := func(data, hashKey string) kintypes.PutRecordsRequestEntry {
		return kintypes.PutRecordsRequestEntry{Data: []byte(data), PartitionKey: aws.String("p"), ExplicitHashKey: aws.String(hashKey)}
	}
	t.Run("PutRecords over the records limit", func(t *testing.T) {
		entries := []kintypes.PutRecordsRequestEntry{
			entry("a0", shard0), entry("a1", shard0), entry("b0", shard1), entry("a2", shard0), entry("a3", shard0), entry("b1", shard1), entry("a4", shard0)}
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			t.Fatal(err)
		}
		var failed []int
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				failed = append(failed, i)
				want := "Rate exceeded for shard shardId-000000000000 in stream " + stream + " under account 123456789012."
				if *r.ErrorCode != "ProvisionedThroughputExceededException" || aws.ToString(r.ErrorMessage) != want || r.SequenceNumber != nil {
					t.Fatalf("record %d: code %q message %q", i, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
				}
			}
		}
		if aws.ToInt32(out.FailedRecordCount) != 2 || len(failed) != 2 || failed[0] != 4 || failed[1] != 6 {
			t.Fatalf("FailedRecordCount %d, failed %v; want records 4 and 6 (shard 0's 4th and 5th)", aws.ToInt32(out.FailedRecordCount), failed)
		}
	})
	t.Run("PutRecord over the limit", func(t *testing.T) {
		_, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte("a5"), PartitionKey: aws.String("p"), ExplicitHashKey: aws.String(shard0)})
		var pte *kintypes.ProvisionedThroughputExceededException
		if !errors.As(err, &pte) || !strings.Contains(aws.ToString(pte.Message), "Rate exceeded for shard shardId-000000000000") {
			t.Fatalf("PutRecord: %v, want ProvisionedThroughputExceededException", err)
		}
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte("b2"), PartitionKey: aws.String("p"), ExplicitHashKey: aws.String(shard1)}); err != nil {
			t.Fatalf("PutRecord to the other shard: %v", err)
		}
	})
	t.Run("next second", func(t *testing.T) {
		clock.Advance(time.Second)
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte("a6"), PartitionKey: aws.String("p"), ExplicitHashKey: aws.String(shard0)}); err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
	})
	t.Run("bytes limit counts data and partition key", func(t *testing.T) {
		if err := e.SetAWSBehaviours(AWSBehaviours{KinesisShardBytesPerSecond: 10, Now: clock.Now}); err != nil {
			t.Fatal(err)
		}
		// 4 bytes of data + 1 of key = 5 each: two fit in 10 bytes, not three.
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []kintypes.PutRecordsRequestEntry{
			entry("c000", shard0), entry("c001", shard0), entry("c002", shard0)}})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 1 || out.Records[2].ErrorCode == nil {
			t.Fatalf("FailedRecordCount %d, want the third record failed", aws.ToInt32(out.FailedRecordCount))
		}
	})
	t.Run("NoKinesisShardLimits", func(t *testing.T) {
		if err := e.SetAWSBehaviours(AWSBehaviours{NoKinesisShardLimits: true, KinesisShardRecordsPerSecond: 1, Now: clock.Now}); err != nil {
			t.Fatal(err)
		}
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []kintypes.PutRecordsRequestEntry{
			entry("d0", shard0), entry("d1", shard0), entry("d2", shard0)}})
		if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %v, %v failed", err, aws.ToInt32(out.FailedRecordCount))
		}
	})
	// Exactly the accepted records are in the stream.
	var got []string
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001"} {
		got = append(got, readShard(t, kc, stream, shard)...)
	}
	want := "a0,a1,a2,a6,c000,c001,d0,d1,d2,b0,b1,b2"
	if strings.Join(got, ",") != want {
		t.Fatalf("stream holds %v, want %s", got, want)
	}
}

// readShard returns every record's data in one shard.
func readShard(t testing.TB, kc *kinesis.Client, stream, shard string) []string {
	t.Helper()
	ctx := context.Background()
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatalf("get shard iterator: %v", err)
	}
	res, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(10000)})
	if err != nil {
		t.Fatalf("get records: %v", err)
	}
	var out []string
	for _, r := range res.Records {
		out = append(out, string(r.Data))
	}
	return out
}
