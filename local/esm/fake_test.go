package esm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// fakeKinesis is a hand-written stream whose closed shards end with a nil
// iterator, as real Kinesis does (moto does not).
type fakeKinesis struct {
	mu     sync.Mutex
	shards []ktypes.Shard
	recs   map[string][]ktypes.Record
	closed map[string]bool
}

var _ KinesisAPI = (*fakeKinesis)(nil)

func (f *fakeKinesis) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &kinesis.ListShardsOutput{Shards: slices.Clone(f.shards)}, nil
}

// Iterators are "<shard>/<index of the next record>".
func (f *fakeKinesis) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	shard := aws.ToString(in.ShardId)
	next := 0
	switch in.ShardIteratorType {
	case ktypes.ShardIteratorTypeLatest:
		next = len(f.recs[shard])
	case ktypes.ShardIteratorTypeAfterSequenceNumber:
		for i, r := range f.recs[shard] {
			if aws.ToString(r.SequenceNumber) == aws.ToString(in.StartingSequenceNumber) {
				next = i + 1
			}
		}
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s/%d", shard, next))}, nil
}

func (f *fakeKinesis) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := aws.ToString(in.ShardIterator)
	i := len(it) - 1
	for it[i] != '/' {
		i--
	}
	shard := it[:i]
	next, _ := strconv.Atoi(it[i+1:])
	all := f.recs[shard]
	end := min(len(all), next+int(aws.ToInt32(in.Limit)))
	out := &kinesis.GetRecordsOutput{Records: all[next:end], MillisBehindLatest: aws.Int64(0)}
	if !(f.closed[shard] && end == len(all)) {
		out.NextShardIterator = aws.String(fmt.Sprintf("%s/%d", shard, end))
	}
	return out, nil
}

func TestParentShardBeforeChildren(t *testing.T) {
	mk := func(shard string, data ...string) []ktypes.Record {
		var out []ktypes.Record
		for i, d := range data {
			out = append(out, ktypes.Record{SequenceNumber: aws.String(fmt.Sprintf("%s-%03d", shard, i)), PartitionKey: aws.String("pk"), Data: []byte(d)})
		}
		return out
	}
	fk := &fakeKinesis{
		// ListShards lists children first: order must come from ParentShardId.
		shards: []ktypes.Shard{
			{ShardId: aws.String("shardId-000000000001"), ParentShardId: aws.String("shardId-000000000000")},
			{ShardId: aws.String("shardId-000000000000"), SequenceNumberRange: &ktypes.SequenceNumberRange{EndingSequenceNumber: aws.String("x")}},
		},
		recs: map[string][]ktypes.Record{
			"shardId-000000000000": mk("p", "p0", "p1", "p2", "p3", "p4"),
			"shardId-000000000001": mk("c", "c0", "c1"),
		},
		closed: map[string]bool{"shardId-000000000000": true},
	}
	fn := &fakeFunction{}
	p := startPoller(t, Config{StreamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/fake", BatchSize: 2, Invoke: fn.invoke, Kinesis: fk})
	waitIdle(t, p)
	var got []string
	for _, b := range fn.data() {
		got = append(got, b...)
	}
	if want := []string{"p0", "p1", "p2", "p3", "p4", "c0", "c1"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	st := p.Stats()
	if st.Shards != 2 || st.Checkpoints["shardId-000000000000"] != "p-004" || st.Checkpoints["shardId-000000000001"] != "c-001" {
		t.Fatalf("stats %+v", st)
	}
}
