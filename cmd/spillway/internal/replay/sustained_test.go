package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/esm"
	"github.com/spillwayhq/spillway/local/mototest"
	"github.com/spillwayhq/spillway/shared/catalog"
)

// TestSustainedThrottlingNeverLoses: the edge throttles every DynamoDB
// transaction (and half the Kinesis reads) for longer than the event
// source mapping's retry budget. The records fanout could not commit are
// not lost: the mapping hands them to the on-failure queue, records sent
// after the throttling are delivered, and `spillway replay on-failure`
// puts the others back so that fanout stores every event exactly once; a
// second replay changes nothing.
func TestSustainedThrottlingNeverLoses(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := edge.Start(ctx, edge.Config{Addr: "127.0.0.1:0", Backend: mototest.Shared(t).URL(),
		Backends: map[string]string{"kinesis": kinesisMock(t).URL()}})
	if err != nil {
		t.Fatalf("start edge: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	throttle := edge.FaultConfig{Seed: 3, Rules: []edge.FaultRule{
		{Service: "dynamodb", Operation: "TransactWriteItems", Rate: 1, Status: 400, Code: "ProvisionedThroughputExceededException"},
		{Service: "kinesis", Operation: "GetRecords", Rate: 0.5, Status: 400, Code: "ProvisionedThroughputExceededException"},
	}}
	if err := srv.SetFaults(throttle); err != nil {
		t.Fatal(err)
	}

	// fanout and the mapping reach AWS through the edge, without SDK
	// retries (they only stretch the throttled phase; the mapping's retry
	// budget is what runs out).
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	viaEdge := aws.String(srv.URL())
	ddb := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: viaEdge, Credentials: creds, RetryMaxAttempts: 1})
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: viaEdge, UsePathStyle: true, Credentials: creds})
	kin := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: viaEdge, Credentials: creds, RetryMaxAttempts: 1})
	fcfg := e.fcfg
	fcfg.CommitConcurrency = fanout.DefaultConfig().CommitConcurrency // the edge serialises moto's writes
	h, err := fanout.New(fcfg, s3c, ddb, fanout.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	invoke := func(ctx context.Context, payload []byte) ([]byte, error) {
		var ev events.KinesisEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
		resp, err := h.Handle(ctx, ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	}
	queue := e.cfg.QueueURL[strings.LastIndex(e.cfg.QueueURL, "/")+1:]
	p, err := esm.New(esm.Config{
		StreamARN: e.arn, BatchSize: 2, MaximumRetryAttempts: 2, BisectBatchOnFunctionError: true, ReportBatchItemFailures: true,
		OnFailure: "arn:aws:sqs:us-east-1:000000000000:" + queue, Invoke: invoke, Kinesis: kin, SQS: e.sqs,
		PollInterval: 10 * time.Millisecond, RetryBackoff: time.Millisecond, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	now := time.Now().Unix()
	count := func() int64 {
		t.Helper()
		c, _, err := catalog.ReadTable(ctx, e.ddb, fcfg.CatalogTable, "web", "access", true)
		if err != nil {
			t.Fatal(err)
		}
		return c.Count
	}
	// Throttled longer than the retry budget: every record ends in the
	// on-failure queue, none is stored.
	for i := range 5 {
		e.putStream(t, envelopeData(t, "web", "access", fmt.Sprintf("t%d", i), now, now))
	}
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	_, injected := srv.Faults()
	t.Logf("throttled: esm %+v; edge %v", st, injected)
	if st.OnFailureRecords != 5 || st.PollErrors == 0 || injected["kinesis.GetRecords.ProvisionedThroughputExceededException"] == 0 {
		t.Fatalf("%d records sent to on-failure, want all 5; kinesis reads throttled %d times, %d poll errors",
			st.OnFailureRecords, injected["kinesis.GetRecords.ProvisionedThroughputExceededException"], st.PollErrors)
	}
	if n := count(); n != 0 {
		t.Fatalf("catalog counts %d events committed under sustained throttling", n)
	}

	// Throttling over: new records are delivered ...
	if err := srv.SetFaults(edge.FaultConfig{}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		e.putStream(t, envelopeData(t, "web", "access", fmt.Sprintf("d%d", i), now, now))
	}
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 4 {
		t.Fatalf("catalog counts %d events after the throttling, want the 4 sent since", n)
	}
	// ... and the replay puts the others back, exactly once.
	if res, out := e.replay(t, SourceOnFailure, time.Now(), nil); res.Replayed == 0 || res.Left != 0 || res.Missing != 0 {
		t.Fatalf("replay = %+v\n%s", res, out)
	}
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 14 {
		t.Fatalf("catalog counts %d events after the replay, want 14 (7 parts of 2)", n)
	}
	if res, _ := e.replay(t, SourceOnFailure, time.Now(), nil); res.Found != 0 || res.Replayed != 0 {
		t.Fatalf("second replay = %+v, want nothing left to replay", res)
	}
	if err := p.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if n, st := count(), p.Stats(); n != 14 || st.OnFailureRecords != 5 {
		t.Fatalf("after a second replay: catalog %d, on-failure records %d; want 14 and 5", n, st.OnFailureRecords)
	}
}
