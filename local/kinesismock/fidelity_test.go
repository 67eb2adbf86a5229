package kinesismock_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/klauspost/compress/gzip"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/kinesisput"
)

const mib = 1 << 20

// backend is one Kinesis emulator the fidelity cases run against.
type backend struct {
	name    string
	url     func(testing.TB) string
	account string // account id in the ARNs it makes for test credentials
}

var backends = []backend{
	{"kinesis-mock", func(tb testing.TB) string { return sharedKinesisMock(tb).URL() }, "000000000000"},
	{"moto", func(tb testing.TB) string { return sharedMoto(tb).URL() }, "123456789012"},
}

// outcome is what an emulator did with one request.
type outcome struct {
	accepted bool
	detail   string // error code or per-record error code when refused
}

func (o outcome) String() string {
	if o.accepted {
		return "accepted"
	}
	return "refused (" + o.detail + ")"
}

func callOutcome(err error) outcome {
	if err == nil {
		return outcome{accepted: true}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return outcome{detail: ae.ErrorCode()}
	}
	return outcome{detail: err.Error()}
}

func putRecordsOutcome(out *kinesis.PutRecordsOutput, err error) outcome {
	if err != nil {
		return callOutcome(err)
	}
	if n := aws.ToInt32(out.FailedRecordCount); n > 0 {
		for _, r := range out.Records {
			if r.ErrorCode != nil {
				return outcome{detail: fmt.Sprintf("%d records failed: %s", n, aws.ToString(r.ErrorCode))}
			}
		}
	}
	return outcome{accepted: true}
}

// entry returns a PutRecords entry of exactly size bytes of data plus
// partition key: key "k<i>", zero data for the rest.
func entry(i, size int) types.PutRecordsRequestEntry {
	key := fmt.Sprintf("k%d", i)
	return types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: make([]byte, size-len(key))}
}

// entries returns one entry per size (data plus key bytes).
func entries(sizes ...int) []types.PutRecordsRequestEntry {
	out := make([]types.PutRecordsRequestEntry, len(sizes))
	for i, s := range sizes {
		out[i] = entry(i, s)
	}
	return out
}

// repeat returns n copies of size.
func repeat(n, size int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = size
	}
	return out
}

// TestLimits sends requests at and just past each Kinesis limit Spillway
// relies on (shared/kinesisput's constants) to each emulator and checks what
// it enforces. AWS refuses every "past the limit" case; want records what
// each emulator was measured to do, so that a change in either fails here
// and README.md's table gets updated.
func TestLimits(t *testing.T) {
	cases := []struct {
		name string
		// do sends the request to the stream named stream.
		do   func(ctx context.Context, c *kinesis.Client, stream string) outcome
		want map[string]bool // backend -> accepted
	}{
		{
			name: "PutRecord data 1 MiB-1 + key 1 B = 1 MiB",
			do:   putRecord(mib-1, 1),
			want: map[string]bool{"kinesis-mock": true, "moto": true},
		},
		{
			name: "PutRecord data 1 MiB + key 1 B = 1 MiB+1",
			do:   putRecord(mib, 1),
			want: map[string]bool{"kinesis-mock": true, "moto": true},
		},
		{
			name: "PutRecord data 1 MiB+1",
			do:   putRecord(mib+1, 1),
			want: map[string]bool{"kinesis-mock": false, "moto": true},
		},
		{
			name: "PutRecords record data+key = 1 MiB",
			do:   putRecords(entries(mib)),
			want: map[string]bool{"kinesis-mock": true, "moto": true},
		},
		{
			name: "PutRecords record data 1 MiB-1 + key 2 B = 1 MiB+1",
			do:   putRecords(entries(mib + 1)),
			want: map[string]bool{"kinesis-mock": true, "moto": false},
		},
		{
			name: "PutRecords record data 1 MiB+1",
			do:   putRecords(entries(mib + 3)),
			want: map[string]bool{"kinesis-mock": false, "moto": false},
		},
		{
			name: "PutRecords 500 records",
			do:   putRecords(entries(repeat(kinesisput.MaxBatchRecords, 16)...)),
			want: map[string]bool{"kinesis-mock": true, "moto": true},
		},
		{
			name: "PutRecords 501 records",
			do:   putRecords(entries(repeat(kinesisput.MaxBatchRecords+1, 16)...)),
			want: map[string]bool{"kinesis-mock": true, "moto": false},
		},
		{
			name: "PutRecords 5 MiB request",
			do:   putRecords(entries(repeat(5, mib)...)),
			want: map[string]bool{"kinesis-mock": true, "moto": true},
		},
		{
			name: "PutRecords 5 MiB+1 request",
			do:   putRecords(entries(mib, mib, mib, mib, mib-2, 3)), // 5 MiB + 1
			want: map[string]bool{"kinesis-mock": true, "moto": false},
		},
		{
			name: "PartitionKey of 256 characters",
			do: func(ctx context.Context, c *kinesis.Client, stream string) outcome {
				_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(strings.Repeat("p", kinesisput.MaxPartitionKey)), Data: []byte("x")})
				return callOutcome(err)
			},
			want: map[string]bool{"kinesis-mock": true, "moto": true},
		},
		{
			name: "PartitionKey of 257 characters",
			do: func(ctx context.Context, c *kinesis.Client, stream string) outcome {
				_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(strings.Repeat("p", kinesisput.MaxPartitionKey+1)), Data: []byte("x")})
				return callOutcome(err)
			},
			want: map[string]bool{"kinesis-mock": false, "moto": false},
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := kinesisClient(t, b.url(t))
			stream := aws.ToString(createStream(t, c, 1).StreamName)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					got := tc.do(ctx, c, stream)
					t.Logf("%s: %s: %v", b.name, tc.name, got)
					if got.accepted != tc.want[b.name] {
						t.Errorf("%s: %s: got %v, want accepted=%v", b.name, tc.name, got, tc.want[b.name])
					}
				})
			}
		})
	}
}

// putRecord returns a case that sends one PutRecord of data bytes with a
// partition key of key bytes.
func putRecord(data, key int) func(context.Context, *kinesis.Client, string) outcome {
	return func(ctx context.Context, c *kinesis.Client, stream string) outcome {
		_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(strings.Repeat("k", key)), Data: make([]byte, data)})
		return callOutcome(err)
	}
}

// putRecords returns a case that sends es in one PutRecords call.
func putRecords(es []types.PutRecordsRequestEntry) func(context.Context, *kinesis.Client, string) outcome {
	return func(ctx context.Context, c *kinesis.Client, stream string) outcome {
		return putRecordsOutcome(c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: es}))
	}
}

// TestStreamFeatures checks the stream features Spillway's Terraform and
// consumers use: ON_DEMAND streams and StreamARN addressing (the ESM and
// fanout address the stream by ARN).
func TestStreamFeatures(t *testing.T) {
	cases := []struct {
		name  string
		check func(t *testing.T, b backend, c *kinesis.Client) error
		want  map[string]bool // backend -> supported
	}{
		{
			name: "ON_DEMAND stream creation",
			check: func(t *testing.T, _ backend, c *kinesis.Client) error {
				s := createStream(t, c, 0)
				if s.StreamModeDetails == nil || s.StreamModeDetails.StreamMode != types.StreamModeOnDemand {
					return fmt.Errorf("stream mode %+v, want ON_DEMAND", s.StreamModeDetails)
				}
				if aws.ToInt32(s.OpenShardCount) < 1 {
					return fmt.Errorf("%d open shards", aws.ToInt32(s.OpenShardCount))
				}
				t.Logf("ON_DEMAND stream has %d open shards", aws.ToInt32(s.OpenShardCount))
				return nil
			},
			want: map[string]bool{"kinesis-mock": true, "moto": true},
		},
		{
			name: "StreamARN addressing",
			check: func(t *testing.T, b backend, c *kinesis.Client) error {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				s := createStream(t, c, 2)
				arn := aws.ToString(s.StreamARN)
				// Each emulator has its own default account (README.md).
				if want := "arn:aws:kinesis:us-east-1:" + b.account + ":stream/" + aws.ToString(s.StreamName); arn != want {
					return fmt.Errorf("stream ARN %q, want %q", arn, want)
				}
				d, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String(arn)})
				if err != nil {
					return fmt.Errorf("describe by ARN: %w", err)
				}
				if aws.ToString(d.StreamDescriptionSummary.StreamName) != aws.ToString(s.StreamName) {
					return fmt.Errorf("describe by ARN named %q", aws.ToString(d.StreamDescriptionSummary.StreamName))
				}
				want := map[string]string{}
				for i := 0; i < 8; i++ {
					k, v := fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i)
					if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: aws.String(arn), PartitionKey: aws.String(k), Data: []byte(v)}); err != nil {
						return fmt.Errorf("put by ARN: %w", err)
					}
					want[k] = v
				}
				got := map[string]string{}
				for _, recs := range readAll(t, c, arn) {
					for _, r := range recs {
						got[aws.ToString(r.PartitionKey)] = string(r.Data)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					return fmt.Errorf("read by ARN %v, want %v", got, want)
				}
				missing := arn + "-missing"
				_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: aws.String(missing), PartitionKey: aws.String("k"), Data: []byte("x")})
				var nf *types.ResourceNotFoundException
				if !errors.As(err, &nf) {
					return fmt.Errorf("put to missing ARN: %v, want ResourceNotFoundException", err)
				}
				return nil
			},
			want: map[string]bool{"kinesis-mock": true, "moto": true},
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			c := kinesisClient(t, b.url(t))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					err := tc.check(t, b, c)
					t.Logf("%s: %s: supported=%v (%v)", b.name, tc.name, err == nil, err)
					if (err == nil) != tc.want[b.name] {
						t.Errorf("%s: %s: supported=%v, want %v: %v", b.name, tc.name, err == nil, tc.want[b.name], err)
					}
				})
			}
		})
	}
}

// part is what the round trip wrote for one envelope.
type part struct {
	env *envelope.Envelope
	key string
}

// buildRequest builds the Kinesis entries of one accepted request the way
// functions/ingest does (parts.go: records): one envelope per part, payload
// gzip(msgpack map stream) (ingest's own parts are zstd; the encoding does
// not matter to Kinesis), partition key envelope.PartitionKey. events
// holds each part's events.
func buildRequest(tb testing.TB, uid string, events [][]map[string]any) ([]types.PutRecordsRequestEntry, []part) {
	tb.Helper()
	meta := envelope.Envelope{DB: "fidelity_db", Table: "events", UniqueID: uid, Producer: "kinesismock-test", ReceivedMS: 1_763_000_000_000, Encoding: envelope.EncodingGzip}
	var es []types.PutRecordsRequestEntry
	var ps []part
	for i, evs := range events {
		var raw bytes.Buffer
		enc := msgpack.NewEncoder(&raw)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				tb.Fatalf("encode event: %v", err)
			}
		}
		var gz bytes.Buffer
		zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
		if err != nil {
			tb.Fatal(err)
		}
		_, _ = zw.Write(raw.Bytes())
		if err := zw.Close(); err != nil {
			tb.Fatal(err)
		}
		e := meta
		e.Part, e.Parts, e.Events, e.Payload = i, len(events), len(evs), gz.Bytes()
		data, err := envelope.Marshal(&e)
		if err != nil {
			tb.Fatalf("marshal envelope: %v", err)
		}
		key := envelope.PartitionKey(&e)
		if n := len(data) + len(key); n > envelope.MaxRecordBytes {
			tb.Fatalf("part %d is %d bytes, more than a record holds", i, n)
		}
		es = append(es, types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(key)})
		ps = append(ps, part{env: &e, key: key})
	}
	return es, ps
}

// bigEvents returns one event whose part, once gzipped and enveloped, fills
// a record to within a few KiB of 1 MiB (random bytes do not compress).
func bigEvents(tb testing.TB, i int) []map[string]any {
	tb.Helper()
	blob := make([]byte, mib-8<<10)
	if _, err := rand.Read(blob); err != nil {
		tb.Fatal(err)
	}
	return []map[string]any{{"time": int64(1_763_000_000 + i), "blob": blob, "i": i}}
}

// smallEvents returns n small events.
func smallEvents(part, n int) []map[string]any {
	out := make([]map[string]any, n)
	for j := range out {
		out[j] = map[string]any{"time": int64(1_763_000_000 + j), "host": fmt.Sprintf("10.0.%d.%d", part%250, j%250), "path": "/index.html", "code": int64(200), "size": int64(part*1000 + j)}
	}
	return out
}

// TestKinesisputRoundTrip writes requests built as functions/ingest builds
// them through Spillway's real writer (shared/kinesisput) into an ON_DEMAND
// kinesis-mock stream, reads every shard back with GetRecords, and checks
// that every envelope decodes to exactly what was written: 6 near-1 MiB
// parts (kinesisput must split by the 5 MiB request limit) and 700 small
// parts (split by the 500-record limit).
func TestKinesisputRoundTrip(t *testing.T) {
	c := kinesisClient(t, sharedKinesisMock(t).URL())
	s := createStream(t, c, 0)
	stream, arn := aws.ToString(s.StreamName), aws.ToString(s.StreamARN)

	var big [][]map[string]any
	for i := 0; i < 6; i++ {
		big = append(big, bigEvents(t, i))
	}
	var small [][]map[string]any
	for i := 0; i < 700; i++ {
		small = append(small, smallEvents(i, 1+i%7))
	}
	es1, ps1 := buildRequest(t, "req-big", big)
	es2, ps2 := buildRequest(t, "req-small", small)
	es, ps := append(es1, es2...), append(ps1, ps2...)
	var total int
	for _, e := range es {
		total += len(e.Data) + len(aws.ToString(e.PartitionKey))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	began := time.Now()
	st, err := kinesisput.Put(ctx, c, stream, es)
	if err != nil {
		t.Fatalf("kinesisput.Put: %v (stats %+v)", err, st)
	}
	t.Logf("put %d records, %d bytes in %d calls, %d rounds, %v", st.Records, total, st.Calls, st.Rounds, time.Since(began))
	if st.Records != len(es) || st.Rounds != 1 {
		t.Errorf("stats %+v, want %d records in 1 round", st, len(es))
	}
	// 706 records of 6.2 MiB: kinesisput must cut by bytes and by count.
	if want := len(kinesisput.Batches(es)); st.Calls != want || want < 3 {
		t.Errorf("%d PutRecords calls, want %d (>= 3)", st.Calls, want)
	}

	began = time.Now()
	shards := readAll(t, c, arn)
	t.Logf("read %d shards in %v; kinesis-mock RSS now %d KiB", len(shards), time.Since(began), rssKiB(t, sharedKinesisMock(t).PID()))
	want := make(map[string]part, len(ps))
	for _, p := range ps {
		want[envelope.PartID(p.env)] = p
	}
	got := map[string]bool{}
	used := 0
	for shard, recs := range shards {
		if len(recs) > 0 {
			used++
		}
		for _, r := range recs {
			env, err := envelope.Unmarshal(r.Data)
			if err != nil {
				t.Fatalf("shard %s seq %s: %v", shard, aws.ToString(r.SequenceNumber), err)
			}
			id := envelope.PartID(env)
			w, ok := want[id]
			switch {
			case !ok:
				t.Errorf("unexpected part %s", id)
				continue
			case got[id]:
				t.Errorf("part %s read twice", id)
			case aws.ToString(r.PartitionKey) != w.key:
				t.Errorf("part %s partition key %q, want %q", id, aws.ToString(r.PartitionKey), w.key)
			case env.Parts != w.env.Parts || env.Events != w.env.Events || env.Producer != w.env.Producer || env.ReceivedMS != w.env.ReceivedMS:
				t.Errorf("part %s header %+v, want %+v", id, *env, *w.env)
			case !bytes.Equal(env.Payload, w.env.Payload):
				t.Errorf("part %s payload differs (%d bytes, want %d)", id, len(env.Payload), len(w.env.Payload))
			}
			got[id] = true
			if n := countEvents(t, env.Payload); n != env.Events {
				t.Errorf("part %s payload holds %d events, envelope says %d", id, n, env.Events)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("read %d distinct parts, wrote %d", len(got), len(want))
	}
	if used < 2 {
		t.Errorf("records landed on %d of %d shards; partition keys should spread them", used, len(shards))
	}
}

// countEvents decodes a TD import body (gzip msgpack stream) and counts its maps.
func countEvents(tb testing.TB, payload []byte) int {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		tb.Fatalf("gunzip payload: %v", err)
	}
	dec := msgpack.NewDecoder(zr)
	n := 0
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			tb.Fatalf("decode event %d: %v", n, err)
		}
		if _, ok := m["time"]; !ok {
			tb.Fatalf("event %d has no time", n)
		}
		n++
	}
}
