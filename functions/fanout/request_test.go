package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/spillwayhq/spillway/shared/layout"
)

// invocations records the flush requests fanout sends. The invocation
// itself is tested end to end (local/cloud) through the Lambda runner; here
// the point is which requests fanout sends, and when.
type invocations struct {
	mu   sync.Mutex
	reqs []string
}

func (iv *invocations) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	var r FlushRequest
	if err := json.Unmarshal(in.Payload, &r); err != nil {
		return nil, err
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.reqs = append(iv.reqs, aws.ToString(in.FunctionName)+" "+string(in.InvocationType)+" "+r.Source+" "+r.DB+"."+r.Table)
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

func (iv *invocations) take() []string {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	out := iv.reqs
	iv.reqs = nil
	sort.Strings(out)
	return out
}

// requestRig sends batches through a handler that records its flush
// requests.
type requestRig struct {
	t   *testing.T
	e   *testEnv
	iv  *invocations
	seq int
}

func newRequestRig(t *testing.T, sealAfter time.Duration) *requestRig {
	e := newTestEnv(t)
	e.cfg.FlushFunction = "spw-flush"
	e.cfg.SealAfter = sealAfter
	return &requestRig{t: t, e: e, iv: &invocations{}}
}

func (r *requestRig) batch(at time.Time, uid string, tables ...string) {
	r.t.Helper()
	var ev events.KinesisEvent
	for _, tb := range tables {
		r.seq++
		ev.Records = append(ev.Records, mkRecord(r.t, "db_one", tb, uid, 0, 1, r.seq, hourT+1))
	}
	resp, err := r.e.handler(r.t, at, WithFlushInvoker(r.iv)).Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		r.t.Fatalf("handle: %v %+v", err, resp)
	}
}

// clear does what flush does when it starts on a table at at.
func (r *requestRig) clear(table string, at time.Time) {
	r.t.Helper()
	_, err := r.e.ddb.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{TableName: aws.String(r.e.cfg.ManifestTable), Key: map[string]types.AttributeValue{
		layout.AttrPK: str(layout.RequestPK("db_one", table)), layout.AttrSK: str(layout.FlushRequestSK)},
		UpdateExpression:          aws.String("SET flushed_at = :at REMOVE first_at, requested_at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": num(at.Unix())}})
	if err != nil {
		r.t.Fatal(err)
	}
}

func req(table string) string { return "spw-flush Event spillway.fanout db_one." + table }

func TestFlushRequestedOncePerPendingTable(t *testing.T) {
	r := newRequestRig(t, 0)
	e, iv, batch, clear := r.e, r.iv, r.batch, r.clear
	now := time.Unix(hourT+60, 0)

	steps := []struct {
		name   string
		at     time.Time
		before func()
		uid    string
		tables []string
		want   []string
	}{
		{"first commits ask once per table", now, nil, "u1", []string{"tbl_a", "tbl_b", "tbl_a"}, []string{req("tbl_a"), req("tbl_b")}},
		{"pending request: no new one", now.Add(time.Second), nil, "u2", []string{"tbl_a", "tbl_b"}, nil},
		{"duplicate parts commit nothing: no request", now.Add(time.Hour), nil, "u1", []string{"tbl_a"}, nil},
		{"flush took tbl_a: asked again", now.Add(2 * time.Second), func() { clear("tbl_a", now.Add(time.Second)) }, "u3", []string{"tbl_a", "tbl_b"}, []string{req("tbl_a")}},
		{"stale request is asked again", now.Add(2*time.Second + e.cfg.FlushRequestStale + time.Second), nil, "u4", []string{"tbl_b"}, []string{req("tbl_b")}},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		batch(s.at, s.uid, s.tables...)
		if got := iv.take(); !slices.Equal(got, s.want) {
			t.Errorf("%s: requests = %q, want %q", s.name, got, s.want)
		}
	}
}

// TestSealAfterBatchesRequests: with SealAfter 30 s, the first commit after
// a quiet spell asks at once; during steady traffic fanout asks only once
// the first commit since the last flush is 30 s old.
func TestSealAfterBatchesRequests(t *testing.T) {
	r := newRequestRig(t, 30*time.Second)
	t0 := time.Unix(hourT+60, 0)
	steps := []struct {
		name    string
		at      time.Duration
		flushed time.Duration // a flush took the table at this time, before the commit (0: none)
		want    []string
	}{
		{"first commit ever: at once", 0, 0, []string{req("tbl_a")}},
		{"pending: no new request", 20 * time.Second, 0, nil},
		{"flushed 5 s ago: not due", 30 * time.Second, 25 * time.Second, nil},
		{"first commit of the cycle 20 s old: not due", 50 * time.Second, 0, nil},
		{"31 s old: due", 61 * time.Second, 0, []string{req("tbl_a")}},
		{"quiet for minutes after a flush: at once", 200 * time.Second, 62 * time.Second, []string{req("tbl_a")}},
	}
	for i, s := range steps {
		if s.flushed != 0 {
			r.clear("tbl_a", t0.Add(s.flushed))
		}
		r.batch(t0.Add(s.at), fmt.Sprintf("u%d", i), "tbl_a")
		if got := r.iv.take(); !slices.Equal(got, s.want) {
			t.Errorf("%s: requests = %q, want %q", s.name, got, s.want)
		}
	}
}

func TestNoFlushFunctionNoRequest(t *testing.T) {
	e := newTestEnv(t)
	iv := &invocations{}
	ev := events.KinesisEvent{Records: []events.KinesisEventRecord{mkRecord(t, "db_one", "tbl_a", "u1", 0, 1, 1, hourT+1)}}
	if _, err := e.handler(t, time.Unix(hourT+60, 0), WithFlushInvoker(iv)).Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := iv.take(); len(got) != 0 {
		t.Errorf("requests = %q, want none without a flush function", got)
	}
}
