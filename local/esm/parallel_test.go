package esm

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// concurrentFunction records, per partition key, the order in which its
// records were invoked, and the most invocations in flight at once. Each
// invocation waits until `want` are in flight together (or a deadline
// passes), so that concurrency the poller offers is observed.
type concurrentFunction struct {
	want     int
	mu       sync.Mutex
	inflight int
	most     int
	byKey    map[string][]string
	ready    chan struct{}
	once     sync.Once
}

func (f *concurrentFunction) invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.inflight++
	f.most = max(f.most, f.inflight)
	for _, r := range ev.Records {
		f.byKey[r.Kinesis.PartitionKey] = append(f.byKey[r.Kinesis.PartitionKey], string(r.Kinesis.Data))
	}
	if f.inflight >= f.want {
		f.once.Do(func() { close(f.ready) })
	}
	f.mu.Unlock()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case <-f.ready:
	case <-deadline.C:
	case <-ctx.Done():
	}
	f.mu.Lock()
	f.inflight--
	f.mu.Unlock()
	return nil, nil
}

// TestParallelizationFactor: with ParallelizationFactor 4, one shard's
// records are invoked in up to 4 concurrent batches, each partition key's
// records in order and each record once, as Lambda does.
func TestParallelizationFactor(t *testing.T) {
	c := newClients(t)
	arn := newStream(t, c)
	name, _ := streamName(arn)
	want := map[string][]string{}
	for i := range 96 {
		key := fmt.Sprintf("key-%02d", i%24)
		d := fmt.Sprintf("%s/%02d", key, i/24)
		if _, err := c.kinesis.PutRecord(testCtx(t), &kinesis.PutRecordInput{StreamName: aws.String(name), Data: []byte(d), PartitionKey: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
		want[key] = append(want[key], d)
	}
	fn := &concurrentFunction{want: 4, byKey: map[string][]string{}, ready: make(chan struct{})}
	p := startPoller(t, Config{StreamARN: arn, BatchSize: 10, ParallelizationFactor: 4, Invoke: fn.invoke, Kinesis: c.kinesis})
	waitIdle(t, p)
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if fn.most != 4 {
		t.Errorf("at most %d invocations in flight, want 4 (the parallelization factor)", fn.most)
	}
	for key, w := range want {
		if got := fn.byKey[key]; !slices.Equal(got, w) {
			t.Errorf("key %s delivered %v, want %v", key, got, w)
		}
	}
	if st := p.Stats(); st.Records != 96 || st.MaxConcurrent != 4 {
		t.Errorf("stats %+v, want 96 records, 4 at once", st)
	}
}
