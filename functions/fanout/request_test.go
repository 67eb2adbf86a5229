package fanout

import (
	"context"
	"encoding/json"
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

func TestFlushRequestedOncePerPendingTable(t *testing.T) {
	e := newTestEnv(t)
	e.cfg.FlushFunction = "spw-flush"
	ctx := context.Background()
	iv := &invocations{}
	now := time.Unix(hourT+60, 0)
	seq := 0
	batch := func(at time.Time, uid string, tables ...string) {
		t.Helper()
		var ev events.KinesisEvent
		for _, tb := range tables {
			seq++
			ev.Records = append(ev.Records, mkRecord(t, "db_one", tb, uid, 0, 1, seq, hourT+1))
		}
		resp, err := e.handler(t, at, WithFlushInvoker(iv)).Handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("handle: %v %+v", err, resp)
		}
	}
	req := func(table string) string { return "spw-flush Event spillway.fanout db_one." + table }
	clear := func(table string) { // what flush does when it starts on a table
		t.Helper()
		_, err := e.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(e.cfg.ManifestTable), Key: map[string]types.AttributeValue{
			layout.AttrPK: str(layout.RequestPK("db_one", table)), layout.AttrSK: str(layout.FlushRequestSK)}})
		if err != nil {
			t.Fatal(err)
		}
	}

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
		{"flush took tbl_a: asked again", now.Add(2 * time.Second), func() { clear("tbl_a") }, "u3", []string{"tbl_a", "tbl_b"}, []string{req("tbl_a")}},
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
