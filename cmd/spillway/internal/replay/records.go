package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/kinesisput"
	"github.com/spillwayhq/spillway/shared/layout"
)

// Records puts every quarantined Kinesis record (quarantine/records/) back
// into the stream with its original bytes and partition key, then deletes
// its object. Fanout's dedup ledger, keyed by the envelope's part id, makes
// a record whose part was already stored a no-op, so a replay interrupted
// between the put and the delete is safe to run again. Records that are not
// Spillway envelopes are left (fanout would quarantine them again) unless
// Force is set.
func (r *Replayer) Records(ctx context.Context) (Result, error) {
	res := Result{Source: SourceRecords}
	err := r.list(ctx, layout.PrefixQuarantineRecords, func(key string) error {
		res.Found++
		if r.replayRecord(ctx, key) {
			res.Replayed++
		} else {
			res.Left++
		}
		return nil
	})
	return res, err
}

// replayRecord replays one quarantined record and reports whether it was
// (dry run: would be) put back.
func (r *Replayer) replayRecord(ctx context.Context, key string) bool {
	raw, err := r.get(ctx, key)
	if err != nil {
		return r.leave(ctx, key, err)
	}
	var q fanout.QuarantineRecord
	if err := json.Unmarshal(raw, &q); err != nil {
		return r.leave(ctx, key, fmt.Errorf("decode quarantined record: %w", err))
	}
	if len(q.Data) == 0 {
		return r.leave(ctx, key, fmt.Errorf("the document holds no record bytes"))
	}
	what := "not an envelope"
	env, envErr := envelope.Unmarshal(q.Data)
	log := r.log.With("key", key, "shard_id", q.ShardID, "sequence_number", q.SequenceNumber)
	if envErr == nil {
		what = fmt.Sprintf("%s.%s unique_id %s part %d/%d", env.DB, env.Table, env.UniqueID, env.Part, env.Parts)
		log = log.With("db", env.DB, "table", env.Table, "unique_id", env.UniqueID, "part", env.Part)
	} else if !r.cfg.Force {
		return r.leave(ctx, key, fmt.Errorf("%w: fanout would quarantine it again (--force replays it anyway)", envErr))
	}
	stream := r.cfg.Stream
	if stream == "" {
		stream = streamName(q.EventSourceARN)
	}
	if stream == "" {
		return r.leave(ctx, key, fmt.Errorf("no stream: the document names none and -stream is not set"))
	}
	pk := q.PartitionKey
	if pk == "" && env != nil {
		pk = envelope.PartitionKey(env)
	}
	if pk == "" {
		return r.leave(ctx, key, fmt.Errorf("the document holds no partition key"))
	}
	r.say("%s %s (%s, %d bytes, partition key %s) to stream %s, then delete it", r.verb("put"), key, what, len(q.Data), pk, stream)
	if r.cfg.DryRun {
		return true
	}
	entry := types.PutRecordsRequestEntry{Data: q.Data, PartitionKey: aws.String(pk)}
	if _, err := kinesisput.Put(ctx, r.c.Kinesis, stream, []types.PutRecordsRequestEntry{entry}); err != nil {
		return r.leave(ctx, key, err)
	}
	if err := r.remove(ctx, key); err != nil {
		return r.leave(ctx, key, fmt.Errorf("record put back, object kept (a second replay is a no-op for fanout): %w", err))
	}
	log.InfoContext(ctx, "quarantined record replayed", "stream", stream, "partition_key", pk)
	return true
}

// leave reports an item left in place and returns false.
func (r *Replayer) leave(ctx context.Context, item string, err error) bool {
	r.say("left %s: %v", item, err)
	r.log.WarnContext(ctx, "item not replayed", "item", item, "err", err)
	return false
}

// streamName is the stream name of a Kinesis stream ARN
// (arn:aws:kinesis:<region>:<account>:stream/<name>), or "".
func streamName(arn string) string {
	_, name, ok := strings.Cut(arn, ":stream/")
	if !ok || strings.Contains(name, "/") {
		return ""
	}
	return name
}
