package esm

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-lambda-go/events"
)

// shardOrder returns, per shard, the data of the records the function
// got, in delivery order.
func (f *fakeFunction) shardOrder() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for _, b := range f.batches {
		for _, r := range b {
			shard, _, _ := strings.Cut(r.EventID, ":")
			out[shard] = append(out[shard], string(r.Kinesis.Data))
		}
	}
	return out
}

// TestReshardingIsFollowed splits the only shard while the poller runs:
// the parent is read to its end, the children are found by ListShards and
// read from TRIM_HORIZON, and every record arrives once, in order per shard.
func TestReshardingIsFollowed(t *testing.T) {
	c := newClients(t)
	arn := newStream(t, c)
	name, _ := streamName(arn)
	ctx := testCtx(t)
	put(t, c, arn, "p1", "p2")
	fn := &fakeFunction{}
	p := startPoller(t, Config{StreamARN: arn, StartingPosition: Latest, Invoke: fn.invoke, Kinesis: c.kinesis})
	waitIdle(t, p)
	before := put(t, c, arn, "p3")
	_ = before

	if _, err := c.kinesis.SplitShard(ctx, &kinesis.SplitShardInput{
		StreamName: aws.String(name), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728"),
	}); err != nil {
		t.Fatalf("split shard: %v", err)
	}
	var after []string
	for i := range 10 {
		after = append(after, fmt.Sprintf("c%d", i))
	}
	put(t, c, arn, after...)
	waitIdle(t, p)

	got := fn.shardOrder()
	if parent := got["shardId-000000000000"]; !slices.Equal(parent, []string{"p3"}) {
		t.Fatalf("parent shard delivered %v, want [p3] (LATEST skips p1, p2)", parent)
	}
	var children []string
	for shard, data := range got {
		if shard == "shardId-000000000000" {
			continue
		}
		children = append(children, data...)
		// Records with pk-i went to one child in put order.
		if !slices.IsSortedFunc(data, func(a, b string) int { return len(a) - len(b) + strings.Compare(a, b) }) {
			t.Errorf("shard %s out of order: %v", shard, data)
		}
	}
	slices.Sort(children)
	if !slices.Equal(children, after) {
		t.Fatalf("children delivered %v, want %v", children, after)
	}
	if st := p.Stats(); st.Shards != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTwoShardsInOrder(t *testing.T) {
	c := newClients(t)
	ctx := testCtx(t)
	name := uniqueName(t)
	if _, err := c.kinesis.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.kinesis.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name)}) })
	sum, err := c.kinesis.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(sum.StreamDescriptionSummary.StreamARN)
	var data []string
	for i := range 40 {
		data = append(data, fmt.Sprintf("%02d", i))
	}
	put(t, c, arn, data...)
	fn := &fakeFunction{respond: func([]events.KinesisEventRecord) ([]byte, error) { return nil, nil }}
	p := startPoller(t, Config{StreamARN: arn, BatchSize: 7, Invoke: fn.invoke, Kinesis: c.kinesis})
	waitIdle(t, p)
	got := fn.shardOrder()
	var all []string
	for shard, d := range got {
		if !slices.IsSorted(d) {
			t.Errorf("shard %s out of order: %v", shard, d)
		}
		all = append(all, d...)
	}
	slices.Sort(all)
	if !slices.Equal(all, data) || len(got) != 2 {
		t.Fatalf("delivered %v over %d shards, want %v over 2", all, len(got), data)
	}
}
