package kinesisput

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// fakeKinesis accepts records unless script says otherwise for a call.
type fakeKinesis struct {
	mu      sync.Mutex
	calls   []int // records per call
	written map[string]int
	script  func(call int, keys []string) (codes map[int]string, err error)
}

func (f *fakeKinesis) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.written == nil {
		f.written = map[string]int{}
	}
	f.calls = append(f.calls, len(in.Records))
	size := 0
	keys := make([]string, len(in.Records))
	for i, r := range in.Records {
		keys[i] = *r.PartitionKey
		size += len(r.Data) + len(*r.PartitionKey)
	}
	if len(in.Records) > MaxBatchRecords || size > MaxBatchBytes {
		return nil, &types.InvalidArgumentException{Message: aws.String("batch too big")}
	}
	var codes map[int]string
	if f.script != nil {
		var err error
		if codes, err = f.script(len(f.calls), keys); err != nil {
			return nil, err
		}
	}
	out := &kinesis.PutRecordsOutput{}
	for i, k := range keys {
		if c, ok := codes[i]; ok {
			out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String(c), ErrorMessage: aws.String("injected")})
			continue
		}
		f.written[k]++
		out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: aws.String("1"), ShardId: aws.String("s")})
	}
	return out, nil
}

var _ PutRecordsAPI = (*fakeKinesis)(nil)

type clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

func entries(n, size int) []types.PutRecordsRequestEntry {
	out := make([]types.PutRecordsRequestEntry, n)
	for i := range out {
		out[i] = types.PutRecordsRequestEntry{Data: make([]byte, size), PartitionKey: aws.String(fmt.Sprintf("k%05d", i))}
	}
	return out
}

func TestBatches(t *testing.T) {
	tests := []struct {
		name      string
		n, size   int
		wantSizes []int
	}{
		{"empty", 0, 10, nil},
		{"one", 1, 10, []int{1}},
		{"count limit", 1001, 10, []int{500, 500, 1}},
		{"byte limit", 12, 1000_000, []int{5, 5, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			for _, b := range Batches(entries(tc.n, tc.size)) {
				got = append(got, len(b))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantSizes) {
				t.Fatalf("batches %v want %v", got, tc.wantSizes)
			}
		})
	}
}

func TestPut(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		script    func(call int, keys []string) (map[int]string, error)
		deadline  time.Duration // 0 = no deadline
		wantErr   []error
		wantPerm  string
		wantCalls int
	}{
		{name: "all accepted", n: 1200, wantCalls: 3},
		{name: "partial failure retried", n: 10, wantCalls: 2, script: func(call int, _ []string) (map[int]string, error) {
			if call == 1 {
				return map[int]string{2: "ProvisionedThroughputExceededException", 7: "InternalFailure"}, nil
			}
			return nil, nil
		}},
		{name: "call error retried", n: 3, wantCalls: 2, script: func(call int, _ []string) (map[int]string, error) {
			if call == 1 {
				return nil, errors.New("connection reset")
			}
			return nil, nil
		}},
		{name: "throttled until deadline", n: 3, deadline: 5 * time.Second, wantErr: []error{ErrIncomplete, ErrThrottled}, script: func(int, []string) (map[int]string, error) {
			return map[int]string{0: "ProvisionedThroughputExceededException"}, nil
		}},
		{name: "internal failures until attempts run out", n: 3, wantCalls: 10, wantErr: []error{ErrIncomplete}, script: func(_ int, keys []string) (map[int]string, error) {
			codes := map[int]string{}
			for i := range keys {
				codes[i] = "InternalFailure"
			}
			return codes, nil
		}},
		{name: "stream missing is permanent", n: 3, wantCalls: 1, wantPerm: "ResourceNotFoundException", script: func(int, []string) (map[int]string, error) {
			return nil, &types.ResourceNotFoundException{Message: aws.String("no stream")}
		}},
		{name: "unknown record code is permanent", n: 3, wantCalls: 1, wantPerm: "KMS.AccessDeniedException", script: func(int, []string) (map[int]string, error) {
			return map[int]string{0: "KMS.AccessDeniedException"}, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeKinesis{script: tc.script}
			c := &clock{now: time.Unix(1700000000, 0)}
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, c.Now().Add(tc.deadline))
				defer cancel()
			}
			in := entries(tc.n, 100)
			st, err := PutWith(ctx, f, "s", in, Options{Sleep: c.Sleep, Now: c.Now, Jitter: func() float64 { return 0 }})
			switch {
			case tc.wantPerm != "":
				var pe *PermanentError
				if !errors.As(err, &pe) || pe.Code != tc.wantPerm {
					t.Fatalf("want permanent %s, got %v", tc.wantPerm, err)
				}
			case tc.wantErr != nil:
				for _, w := range tc.wantErr {
					if !errors.Is(err, w) {
						t.Fatalf("error %v does not wrap %v", err, w)
					}
				}
				if tc.deadline > 0 {
					var total time.Duration
					for _, s := range c.sleeps {
						total += s
					}
					if total > tc.deadline {
						t.Fatalf("slept %s past a %s deadline", total, tc.deadline)
					}
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if st.Records != tc.n {
					t.Fatalf("stats %+v", st)
				}
				for k, n := range f.written {
					if n != 1 {
						t.Fatalf("record %s written %d times: only failed entries may be retried", k, n)
					}
				}
				if len(f.written) != tc.n {
					t.Fatalf("%d of %d written", len(f.written), tc.n)
				}
			}
			if tc.wantCalls > 0 && len(f.calls) != tc.wantCalls {
				t.Fatalf("%d calls want %d", len(f.calls), tc.wantCalls)
			}
		})
	}
}

func TestPutRejectsOversizedEntries(t *testing.T) {
	f := &fakeKinesis{}
	tests := []struct {
		name string
		e    types.PutRecordsRequestEntry
	}{
		{"data over 1 MiB", types.PutRecordsRequestEntry{Data: make([]byte, MaxRecordBytes), PartitionKey: aws.String("k")}},
		{"long partition key", types.PutRecordsRequestEntry{Data: []byte("x"), PartitionKey: aws.String(strings.Repeat("k", 257))}},
		{"empty partition key", types.PutRecordsRequestEntry{Data: []byte("x"), PartitionKey: aws.String("")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Put(context.Background(), f, "s", []types.PutRecordsRequestEntry{tc.e}); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("want ErrTooLarge, got %v", err)
			}
		})
	}
	if len(f.calls) != 0 {
		t.Fatal("oversized entries reached Kinesis")
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	o := Options{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, Jitter: func() float64 { return 0.999 }}.withDefaults()
	prev := time.Duration(0)
	for round := 0; round < 8; round++ {
		d := retryDelay(o, round)
		if d < prev && d < o.MaxDelay/2 {
			t.Fatalf("round %d: %s shrank from %s", round, d, prev)
		}
		if d > o.MaxDelay {
			t.Fatalf("round %d: %s over the cap", round, d)
		}
		prev = d
	}
}

func BenchmarkBatches(b *testing.B) {
	in := entries(5000, 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(in) * 1000))
	for b.Loop() {
		_ = Batches(in)
	}
}
