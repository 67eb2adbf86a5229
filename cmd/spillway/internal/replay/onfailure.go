package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/spillwayhq/spillway/shared/kinesisput"
)

// FailureRecord is the part of the invocation record a Kinesis event source
// mapping sends to its on-failure destination that a replay reads (AWS
// Lambda developer guide, "Retain discarded batch records for a Kinesis
// Data Streams event source"). Unknown fields are ignored.
type FailureRecord struct {
	RequestContext struct {
		Condition string `json:"condition"`
	} `json:"requestContext"`
	KinesisBatchInfo struct {
		ShardID             string `json:"shardId"`
		StartSequenceNumber string `json:"startSequenceNumber"`
		EndSequenceNumber   string `json:"endSequenceNumber"`
		BatchSize           int    `json:"batchSize"`
		StreamArn           string `json:"streamArn"`
	} `json:"KinesisBatchInfo"`
}

// maxEmptyReads bounds GetRecords calls that return nothing while the
// shard still has records further on.
const maxEmptyReads = 100

// OnFailure replays every pointer in the on-failure queue: it reads the
// records the pointer names from the stream (shard, start to end sequence
// number), puts them back with their partition keys, and deletes the
// message. Fanout's dedup ledger makes records already stored a no-op.
// Records the stream no longer holds are reported (Missing); their message
// stays queued unless DeleteExpired. Messages not deleted are made visible
// again when the run ends (a dry run deletes none).
func (r *Replayer) OnFailure(ctx context.Context) (Result, error) {
	res := Result{Source: SourceOnFailure}
	var keep []string // receipt handles to make visible again
	defer func() { r.release(ctx, keep) }()
	seen := map[string]bool{}
	for {
		out, err := r.c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(r.cfg.QueueURL), MaxNumberOfMessages: 10,
			WaitTimeSeconds: int32(r.cfg.PollWait.Seconds()), VisibilityTimeout: int32(r.cfg.VisibilityTimeout.Seconds()),
		})
		if err != nil {
			return res, fmt.Errorf("receive from %s: %w", r.cfg.QueueURL, err)
		}
		fresh := 0
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				keep = append(keep, aws.ToString(m.ReceiptHandle))
				continue
			}
			seen[id] = true
			fresh++
			res.Found++
			done, missing := r.replayPointer(ctx, m)
			res.Missing += missing
			if done {
				res.Replayed++
			} else {
				res.Left++
			}
			if !done || r.cfg.DryRun {
				keep = append(keep, aws.ToString(m.ReceiptHandle))
			}
		}
		if fresh == 0 {
			return res, nil
		}
	}
}

// replayPointer replays one message; done reports that it was (dry run:
// would be) deleted, missing how many of its records the stream lacks.
func (r *Replayer) replayPointer(ctx context.Context, m sqstypes.Message) (done bool, missing int) {
	item := "message " + aws.ToString(m.MessageId)
	var fr FailureRecord
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &fr); err != nil {
		return r.leave(ctx, item, fmt.Errorf("decode on-failure record: %w", err)), 0
	}
	b := fr.KinesisBatchInfo
	start, ok1 := new(big.Int).SetString(b.StartSequenceNumber, 10)
	end, ok2 := new(big.Int).SetString(b.EndSequenceNumber, 10)
	if b.ShardID == "" || !ok1 || !ok2 || start.Cmp(end) > 0 {
		return r.leave(ctx, item, fmt.Errorf("not a Kinesis on-failure record (shard %q, sequence %q to %q)", b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber)), 0
	}
	src := streamRef{name: r.cfg.Stream, arn: b.StreamArn}
	if src.name == "" && src.arn == "" {
		return r.leave(ctx, item, errors.New("no stream: the record names none and -stream is not set")), 0
	}
	if err := r.checkStream(ctx, src); err != nil {
		return r.leave(ctx, item, err), 0
	}
	recs, err := r.readRange(ctx, src, b.ShardID, b.StartSequenceNumber, start, end)
	if err != nil {
		return r.leave(ctx, item, err), 0
	}
	if b.BatchSize > len(recs) {
		missing = b.BatchSize - len(recs)
	}
	what := fmt.Sprintf("%s shard %s sequence %s to %s (%s)", item, b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, fr.RequestContext.Condition)
	if missing > 0 {
		r.say("missing %d of %d records of %s: the stream no longer holds them", missing, b.BatchSize, what)
		r.log.ErrorContext(ctx, "on-failure records expired", "shard_id", b.ShardID, "start_sequence_number", b.StartSequenceNumber, "missing", missing)
	}
	del := missing == 0 || r.cfg.DeleteExpired
	then := ", then delete the message"
	if !del {
		then = ", and keep the message (--delete-expired drops it)"
	}
	r.say("%s %d records of %s to stream %s%s", r.verb("put"), len(recs), what, src, then)
	if r.cfg.DryRun {
		return del, missing
	}
	if len(recs) > 0 {
		entries := make([]ktypes.PutRecordsRequestEntry, len(recs))
		for i, rec := range recs {
			entries[i] = ktypes.PutRecordsRequestEntry{Data: rec.Data, PartitionKey: rec.PartitionKey}
		}
		if _, err := kinesisput.Put(ctx, r.c.Kinesis, r.putStream(src), entries); err != nil {
			return r.leave(ctx, item, err), missing
		}
	}
	if !del {
		return false, missing
	}
	if _, err := r.c.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.cfg.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		return r.leave(ctx, item, fmt.Errorf("records put back, message kept (a second replay is a no-op for fanout): delete message: %w", err)), missing
	}
	r.log.InfoContext(ctx, "on-failure pointer replayed", "shard_id", b.ShardID, "start_sequence_number", b.StartSequenceNumber, "records", len(recs))
	return true, missing
}

// streamRef names a stream by name (preferred) or ARN.
type streamRef struct{ name, arn string }

func (s streamRef) String() string {
	if s.name != "" {
		return s.name
	}
	return s.arn
}

// putStream is the stream name PutRecords writes to.
func (r *Replayer) putStream(s streamRef) string {
	if s.name != "" {
		return s.name
	}
	return streamName(s.arn)
}

// checkStream makes sure the stream exists, so that a wrong -stream is an
// error rather than records reported missing (and dropped with
// DeleteExpired).
func (r *Replayer) checkStream(ctx context.Context, s streamRef) error {
	in := &kinesis.DescribeStreamSummaryInput{}
	if s.name != "" {
		in.StreamName = aws.String(s.name)
	} else {
		in.StreamARN = aws.String(s.arn)
	}
	if _, err := r.c.Kinesis.DescribeStreamSummary(ctx, in); err != nil {
		return fmt.Errorf("describe stream %s: %w", s, err)
	}
	return nil
}

// readRange returns the records of shard from start to end (inclusive)
// that the stream still holds.
func (r *Replayer) readRange(ctx context.Context, s streamRef, shard, startStr string, start, end *big.Int) ([]ktypes.Record, error) {
	in := &kinesis.GetShardIteratorInput{ShardId: aws.String(shard), ShardIteratorType: ktypes.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(startStr)}
	if s.name != "" {
		in.StreamName = aws.String(s.name)
	} else {
		in.StreamARN = aws.String(s.arn)
	}
	it, err := r.c.Kinesis.GetShardIterator(ctx, in)
	if err != nil {
		var nf *ktypes.ResourceNotFoundException
		var ia *ktypes.InvalidArgumentException
		if errors.As(err, &nf) || errors.As(err, &ia) {
			r.log.WarnContext(ctx, "shard iterator refused; treating the records as expired", "shard_id", shard, "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("get shard iterator %s at %s: %w", shard, startStr, err)
	}
	var recs []ktypes.Record
	iter, empty := it.ShardIterator, 0
	for iter != nil {
		out, err := r.c.Kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1000)})
		if err != nil {
			return nil, fmt.Errorf("get records of %s: %w", shard, err)
		}
		for _, rec := range out.Records {
			seq, ok := new(big.Int).SetString(aws.ToString(rec.SequenceNumber), 10)
			if !ok {
				return nil, fmt.Errorf("shard %s: bad sequence number %q", shard, aws.ToString(rec.SequenceNumber))
			}
			if seq.Cmp(end) > 0 {
				return recs, nil
			}
			if seq.Cmp(start) >= 0 {
				recs = append(recs, rec)
			}
		}
		if len(out.Records) == 0 {
			empty++
			if aws.ToInt64(out.MillisBehindLatest) == 0 || empty >= maxEmptyReads {
				return recs, nil
			}
		}
		iter = out.NextShardIterator
	}
	return recs, nil
}

// release makes the kept messages visible again.
func (r *Replayer) release(ctx context.Context, handles []string) {
	for _, h := range handles {
		if _, err := r.c.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(r.cfg.QueueURL), ReceiptHandle: aws.String(h), VisibilityTimeout: 0,
		}); err != nil {
			r.log.WarnContext(ctx, "make message visible again", "err", err)
		}
	}
}
