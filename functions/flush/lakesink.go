package flush

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/lake"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// LakeSink names the Iceberg lake among the sinks: in the manifests'
// import marks and as the Endpoint dimension of OldestUnimportedSeconds
// (Terraform's lake backlog alarm uses it).
const LakeSink = "lake"

// Lake is the part of shared/lake flush uses; *lake.Lake is one.
type Lake interface {
	Append(ctx context.Context, db, tbl, sealID string, stream []byte) (lake.Result, error)
	Compact(ctx context.Context, db, tbl string, hour time.Time, targetBytes int64, stop func() bool) (lake.CompactResult, error)
	// Maintenance (lakemaint.go).
	Seals(ctx context.Context, db, tbl string) ([]lake.Seal, error)
	Expire(ctx context.Context, db, tbl string, before time.Time, retainLast int) (lake.ExpireResult, error)
	RemoveOrphans(ctx context.Context, db, tbl string, olderThan time.Duration) (lake.OrphanResult, error)
}

var _ Lake = (*lake.Lake)(nil)

// WithLake makes the Iceberg lake one more sink, named LakeSink: the
// sealed objects of a manifest are appended to the table db.table in
// batches of consecutive objects (up to lakeBatchBytes of records, so one
// Iceberg commit for a typical run), each exactly once under a seal id
// derived from the manifest id and the batch (see shared/lake), with the
// TD endpoints' backlog, retry and OldestUnimportedSeconds; and scheduled
// runs compact the lake's closed hours.
func WithLake(l Lake) Option {
	return func(h *Handler) {
		h.lake = l
		h.sinks = append(h.sinks, Sink{Endpoint: LakeSink})
	}
}

// lakeBatchBytes bounds the decompressed records of one lake append (the
// lake decodes them all into memory): the default sealed object size.
const lakeBatchBytes = 64 << 20

// LakeSealID is the lake seal id of the batch of m's sealed objects
// [first, end).
func LakeSealID(manifestID string, first, end int) string {
	return manifestID + "-" + strconv.Itoa(first) + "-" + strconv.Itoa(end)
}

// importLake appends m's sealed objects that the lake has not taken yet,
// in batches: from the first object without a lake mark, consecutive
// objects until their records reach lakeBatchBytes (at least one). The
// batches are the same on every run (sealed objects are deterministic and
// a batch's marks are recorded together, after its commit), so a batch
// retried after a crash carries the same seal id and is appended once.
// Each batch's hours are marked for compaction before it is appended. A
// lake error is returned for a later retry, never parked: whatever fanout
// stored, the lake stores.
func (h *Handler) importLake(ctx context.Context, sink Sink, m *Manifest, bodies map[string][]byte, done map[string]bool, _ *runState) error {
	for n := 0; n < len(m.Sealed); {
		if done[importMark(sink.Endpoint, n)] {
			n++
			continue
		}
		var stream []byte
		var marks []string
		end := n
		for ; end < len(m.Sealed) && (end == n || len(stream) < lakeBatchBytes); end++ {
			k := m.Sealed[end]
			body, err := h.sealedBody(ctx, bodies, k)
			if err != nil {
				return err
			}
			raw, err := tdrecord.Gunzip(body, tdrecord.StoreLimits(math.MaxInt32), nil)
			if err != nil {
				return fmt.Errorf("lake: gunzip %s: %w", k, err)
			}
			stream = append(stream, raw...)
			if err := h.markCompaction(ctx, m.DB, m.Table, k); err != nil {
				return err
			}
			marks = append(marks, importMark(sink.Endpoint, end))
		}
		sealID := LakeSealID(m.ID, n, end)
		if _, err := h.lake.Append(ctx, m.DB, m.Table, sealID, stream); err != nil {
			return fmt.Errorf("append %s to the lake table %s.%s: %w", sealID, m.DB, m.Table, err)
		}
		if err := h.recordProgress(ctx, m, sink.Endpoint, end); err != nil {
			return err
		}
		for _, mk := range marks {
			done[mk] = true
		}
		m.Imports = append(m.Imports, marks...)
		n = end
	}
	return nil
}

// markCompaction records, before the lake sink appends sealed object key,
// that its hour will need compacting once its late window has passed: an
// item under layout.CompactPK whose marks counter every append bumps, so
// that compaction deletes it only when no append came in meanwhile.
// Written before the append, so that a crash between the two cannot leave
// an appended hour unmarked.
func (h *Handler) markCompaction(ctx context.Context, db, table, key string) error {
	o, err := layout.ParseSealedKey(key)
	if err != nil {
		return err
	}
	due := o.Partition.Hour + 3600 + int64(h.cfg.LateWindow/time.Second)
	_, err = h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.cfg.ManifestTable),
		Key:                       map[string]types.AttributeValue{layout.AttrPK: str(layout.CompactPK(db, table)), layout.AttrSK: str(o.Partition.SealedSK())},
		UpdateExpression:          aws.String("SET due_at = :due ADD marks :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":due": num(due), ":one": num(1)},
	})
	if err != nil {
		return fmt.Errorf("mark lake hour %s of %s.%s for compaction: %w", o.Partition.SealedSK(), db, table, err)
	}
	return nil
}

// compactItem is a lake hour waiting for compaction.
type compactItem struct {
	SK    string `dynamodbav:"sk"`
	DueAt int64  `dynamodbav:"due_at"`
	Marks int64  `dynamodbav:"marks"`
}

// compactDue compacts the lake hours of db.table whose late window has
// passed, each group of small files with one atomic Iceberg commit
// (lake.Compact), and deletes each hour's item unless an append marked the
// hour again meanwhile. It stops at the run's deadline reserve, between
// hours and between an hour's groups (a group started before the reserve
// has runReserve to commit); what is left, a part of an hour included,
// waits for the next scheduled run.
func (h *Handler) compactDue(ctx context.Context, db, table string, run *runState) error {
	now := h.now().Unix()
	out, err := h.ddb.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(h.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("due_at <= :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(layout.CompactPK(db, table)), ":now": num(now)},
	})
	if err != nil {
		return fmt.Errorf("query lake hours to compact of %s.%s: %w", db, table, err)
	}
	for _, it := range out.Items {
		if h.late(ctx) {
			return nil
		}
		var ci compactItem
		if err := attributevalue.UnmarshalMap(it, &ci); err != nil {
			return fmt.Errorf("decode lake hour item of %s.%s: %w", db, table, err)
		}
		p, err := layout.ParseSealedSK(db, table, ci.SK)
		if err != nil {
			return err
		}
		res, err := h.lake.Compact(ctx, db, table, time.Unix(p.Hour, 0), 0, func() bool { return h.late(ctx) })
		if err != nil {
			return fmt.Errorf("compact lake hour %s of %s.%s: %w", ci.SK, db, table, err)
		}
		if res.Stopped {
			// Between two group commits: the hour's item stays, and the
			// next run plans what is left (the groups committed are not
			// small files any more, so none is rewritten twice).
			h.log.InfoContext(ctx, "lake hour compaction stopped at the run's deadline reserve, the next run goes on", "db", db, "table", table, "hour", ci.SK,
				"commits", res.Commits, "files_before", res.FilesBefore, "files_after", res.FilesAfter)
			return nil
		}
		if err := h.point(ctx, "after-compact"); err != nil {
			return err
		}
		if res.SnapshotID != 0 {
			run.res.Compacted++
			h.log.InfoContext(ctx, "lake hour compacted", "db", db, "table", table, "hour", ci.SK,
				"commits", res.Commits, "files_before", res.FilesBefore, "files_after", res.FilesAfter, "bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter)
		}
		_, err = h.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(h.cfg.ManifestTable),
			Key:                       map[string]types.AttributeValue{layout.AttrPK: str(layout.CompactPK(db, table)), layout.AttrSK: str(ci.SK)},
			ConditionExpression:       aws.String("marks = :m"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":m": num(ci.Marks)},
		})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return fmt.Errorf("delete compacted lake hour %s of %s.%s: %w", ci.SK, db, table, err)
		}
	}
	return nil
}
