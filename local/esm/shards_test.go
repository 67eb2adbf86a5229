package esm

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
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
// the children are found by ListShards, the parent is read to its end
// before them, and every record arrives once, in order per shard.
func TestReshardingIsFollowed(t *testing.T) {
	c := newClients(t)
	arn := newStream(t, c)
	name, _ := streamName(arn)
	ctx := testCtx(t)
	put(t, c, arn, "p1", "p2")
	fn := &fakeFunction{}
	p := startPoller(t, Config{StreamARN: arn, StartingPosition: Latest, Invoke: fn.invoke, Kinesis: c.kinesis})
	waitIdle(t, p)
	put(t, c, arn, "p3")

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

	// moto keeps routing writes to the closed parent, so which shard holds
	// c0..c9 is moto's choice; what must hold is: every record once, in
	// order within its shard, and the parent finished (WaitIdle returns
	// only when the children, which wait for it, have been polled too).
	got := fn.shardOrder()
	var all []string
	for shard, data := range got {
		all = append(all, data...)
		var cs []string
		for _, d := range data {
			if strings.HasPrefix(d, "c") {
				cs = append(cs, d)
			}
		}
		if !isSubsequence(cs, after) {
			t.Errorf("shard %s out of order: %v", shard, data)
		}
	}
	slices.Sort(all)
	want := append([]string{}, after...)
	want = append(want, "p3")
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Fatalf("delivered %v, want %v", all, want)
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

// isSubsequence reports whether sub appears in seq in the same order.
func isSubsequence(sub, seq []string) bool {
	i := 0
	for _, s := range seq {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}
