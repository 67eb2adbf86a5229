package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/kinesisput"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// FutureProducer is the envelope producer of re-imported future events.
const FutureProducer = "spillway-replay"

// chunkRaw bounds the decompressed events of one re-import part: gzip adds
// at most a few hundred bytes to 1 MiB, and the envelope fields and the
// partition key stay under 2 KiB, so every part fits one Kinesis record.
const chunkRaw = envelope.MaxRecordBytes - 8<<10

// FutureUniqueID is the unique_id a quarantined future object is
// re-imported under: derived from its key alone, so a second replay of the
// same object writes the same parts and fanout's ledger stores them once.
func FutureUniqueID(key string) string {
	s := sha256.Sum256([]byte(key))
	return "fq-" + hex.EncodeToString(s[:20])
}

// Future re-imports every quarantined future object (quarantine/future/)
// whose last event is no longer beyond now + FutureLimit (every one with
// Force) through the stream, as envelopes of one request whose unique_id
// is FutureUniqueID(key), then deletes it. Objects not yet due are counted
// as Waiting and left.
func (r *Replayer) Future(ctx context.Context) (Result, error) {
	res := Result{Source: SourceFuture}
	err := r.list(ctx, layout.PrefixQuarantineFuture, func(key string) error {
		res.Found++
		switch r.replayFuture(ctx, key) {
		case outcomeDone:
			res.Replayed++
		case outcomeWaiting:
			res.Waiting++
		default:
			res.Left++
		}
		return nil
	})
	return res, err
}

// outcome is what happened to one item.
type outcome int

const (
	outcomeLeft    outcome = iota // not replayed (reported)
	outcomeDone                   // replayed (dry run: would be)
	outcomeWaiting                // not due yet
)

func (r *Replayer) replayFuture(ctx context.Context, key string) outcome {
	obj, err := layout.ParsePartKey(key)
	if err != nil {
		r.leave(ctx, key, err)
		return outcomeLeft
	}
	db, table := obj.Partition.DB, obj.Partition.Table
	body, err := r.get(ctx, key)
	if err != nil {
		r.leave(ctx, key, err)
		return outcomeLeft
	}
	lim := tdrecord.StoreLimits(envelope.MaxPayloadRaw)
	raw, err := tdrecord.Gunzip(body, lim, nil)
	if err != nil {
		r.leave(ctx, key, fmt.Errorf("decompress: %w", err))
		return outcomeLeft
	}
	var evs []tdrecord.Event
	w := tdrecord.Walker{Limits: lim}
	if _, err := w.Walk(raw, func(e tdrecord.Event) { evs = append(evs, e) }); err != nil {
		r.leave(ctx, key, fmt.Errorf("decode events: %w", err))
		return outcomeLeft
	}
	if len(evs) == 0 {
		r.leave(ctx, key, fmt.Errorf("the object holds no events"))
		return outcomeLeft
	}
	last := evs[0].Time
	for _, e := range evs {
		last = max(last, e.Time)
	}
	due := time.Unix(last, 0).Add(-r.cfg.FutureLimit)
	if r.now().Before(due) && !r.cfg.Force {
		r.say("wait %s: its last event (%s) is beyond the future limit until %s (--force re-imports it now)",
			key, time.Unix(last, 0).UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339))
		return outcomeWaiting
	}
	uid := FutureUniqueID(key)
	entries, err := futureEntries(db, table, uid, body, raw, evs, r.now())
	if err != nil {
		r.leave(ctx, key, err)
		return outcomeLeft
	}
	r.say("%s %s (%s.%s, %d events) to stream %s as unique_id %s in %d part(s), then delete it",
		r.verb("re-import"), key, db, table, len(evs), r.cfg.Stream, uid, len(entries))
	if r.cfg.DryRun {
		return outcomeDone
	}
	if _, err := kinesisput.Put(ctx, r.c.Kinesis, r.cfg.Stream, entries); err != nil {
		r.leave(ctx, key, err)
		return outcomeLeft
	}
	if err := r.remove(ctx, key); err != nil {
		r.leave(ctx, key, fmt.Errorf("events re-imported, object kept (a second replay is a no-op for fanout): %w", err))
		return outcomeLeft
	}
	r.log.InfoContext(ctx, "future object re-imported", "key", key, "db", db, "table", table, "unique_id", uid, "parts", len(entries), "events", len(evs))
	return outcomeDone
}

// futureEntries builds the Kinesis records of one re-import: the object's
// body as one part when it fits a record, else its events cut in order into
// parts of at most chunkRaw decompressed bytes (deterministic, so a second
// replay builds the same parts).
func futureEntries(db, table, uid string, body, raw []byte, evs []tdrecord.Event, now time.Time) ([]types.PutRecordsRequestEntry, error) {
	payloads := [][]byte{body}
	counts := []int{len(evs)}
	if len(body) > chunkRaw {
		payloads, counts = nil, nil
		start, n := 0, 0
		for i, e := range evs {
			if e.End-e.Start > chunkRaw {
				return nil, fmt.Errorf("event %d is %d bytes, more than one record holds", i, e.End-e.Start)
			}
			if e.End-evs[start].Start > chunkRaw {
				payloads, counts = append(payloads, tdrecord.GzipStream(raw[evs[start].Start:e.Start])), append(counts, n)
				start, n = i, 0
			}
			n++
		}
		payloads, counts = append(payloads, tdrecord.GzipStream(raw[evs[start].Start:])), append(counts, n)
	}
	entries := make([]types.PutRecordsRequestEntry, len(payloads))
	for i, p := range payloads {
		env := &envelope.Envelope{
			DB: db, Table: table, UniqueID: uid, Part: i, Parts: len(payloads), Producer: FutureProducer,
			Events: counts[i], ReceivedMS: now.UnixMilli(), Encoding: envelope.EncodingGzip, Payload: p,
		}
		data, err := envelope.Marshal(env)
		if err != nil {
			return nil, err
		}
		pk := envelope.PartitionKey(env)
		if len(data)+len(pk) > kinesisput.MaxRecordBytes {
			return nil, fmt.Errorf("part %d is %d bytes, more than one record holds", i, len(data)+len(pk))
		}
		entries[i] = types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(pk)}
	}
	return entries, nil
}
