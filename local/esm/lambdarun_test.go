package esm

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spillwayhq/spillway/internal/syncbuf"
	"github.com/spillwayhq/spillway/local/lambdarun"
)

// processed lists what the function's output (logs) says it processed.
func processed(logs *syncbuf.Buffer) []string {
	var out []string
	for line := range strings.Lines(logs.String()) {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "processed "); ok {
			out = append(out, d)
		}
	}
	return out
}

// buildFunction builds testdata/kfn as a Lambda bootstrap.
func buildFunction(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./testdata/kfn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build kfn: %v\n%s", err, out)
	}
	return bin
}

// TestWithRealFunction drives a real aws-lambda-go Kinesis function through
// lambdarun: a crashing record is isolated by bisection and sent to the
// SQS on-failure queue, a rejected record is retried from its sequence
// number via ReportBatchItemFailures, and everything else is processed in
// order.
func TestWithRealFunction(t *testing.T) {
	c := newClients(t)
	arn := newStream(t, c)
	ctx := testCtx(t)
	q, err := c.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(uniqueName(t))})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqsAttr{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	r, err := lambdarun.New(lambdarun.Config{
		Name: "kfn", Binary: buildFunction(t), Timeout: 10 * time.Second, Logs: logs,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })

	seqs := put(t, c, arn, "a", "b", "crash", "c", "reject", "d")
	p := startPoller(t, Config{
		StreamARN: arn, Invoke: r.Invoke, Kinesis: c.kinesis, SQS: c.sqs, OnFailure: attrs.Attributes["QueueArn"],
		BisectBatchOnFunctionError: true, MaximumRetryAttempts: 1, ReportBatchItemFailures: true,
	})
	waitIdle(t, p)

	// [a b crash c reject d] crashes -> [a b crash] crashes -> [a] ok,
	// [b crash] crashes -> [b] ok, [crash] crashes twice (5 exits in all)
	// -> on-failure;
	// [c reject d] reports reject -> retry [reject d] reports reject ->
	// retries exhausted -> on-failure.
	want := []string{"a", "b", "c", "reject", "d", "reject", "d"}
	if got := processed(logs); !slices.Equal(got, want) {
		t.Fatalf("processed %v, want %v", got, want)
	}
	st := p.Stats()
	if st.OnFailureBatches != 2 || st.OnFailureRecords != 3 || st.Checkpoints["shardId-000000000000"] != seqs[5] {
		t.Fatalf("esm stats %+v", st)
	}
	if rs := r.Stats(); rs.Exits != 5 || rs.ColdStarts != 6 {
		t.Fatalf("runner stats %+v", rs)
	}
	msgs, err := c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, m := range msgs.Messages {
		var rec FailureRecord
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &rec); err != nil {
			t.Fatal(err)
		}
		starts = append(starts, rec.KinesisBatchInfo.StartSequenceNumber)
	}
	slices.Sort(starts)
	if wantStarts := []string{seqs[2], seqs[4]}; !slices.Equal(starts, wantStarts) {
		t.Fatalf("on-failure batches start at %v, want %v", starts, wantStarts)
	}
}
