package flush

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/spillwayhq/spillway/shared/layout"
)

// Staged orphans. Fanout names a staged object after the ledger ids of the
// transaction that commits it, and stages it before the commit. When the
// transaction never commits that set (a crash and a redelivered batch of
// another shape, the ESM bisecting a failed batch, a racing invocation
// that committed some of the parts first), the object stays in staged/
// with no staged item: never sealed, never counted, its events committed
// under another object. sweepStaged deletes such objects. It is safe by
// order: it reads the ledger entry recorded in the object's metadata
// (layout.StagedObjectMeta) first and the staged item second. An entry
// that exists never goes away (until its TTL), and every transaction that
// writes the object's item puts that entry on the condition that it is
// absent, so an item absent after the entry exists stays absent; and an
// item that existed and is gone was finished by a manifest, which deleted
// its object first.

// stagedSweepDue reports whether a scheduled run sweeps the table's staged
// orphans now: once an hour per table, in the minute its name hashes to.
func stagedSweepDue(db, table string, now time.Time) bool {
	f := fnv.New32a()
	_, _ = f.Write([]byte(db + "." + table))
	return int(f.Sum32()%60) == now.Minute()
}

// sweepTables sweeps the staged orphans of tables (the run's last pass:
// every one when forced; otherwise those whose minute it is), in rotated
// order until the deadline reserve.
func (h *Handler) sweepTables(ctx context.Context, tables [][2]string, run *runState, errs *[]error) error {
	now := h.now()
	_, err := h.eachTable(ctx, tables, "sweep staged orphans", run, errs, func(db, table string) error {
		if !run.force && !stagedSweepDue(db, table, now) {
			return nil
		}
		return h.sweepStaged(ctx, db, table, run)
	})
	return err
}

// sweepStaged deletes the table's staged objects that no staged item
// references and none ever can (see above); objects without the metadata
// (staged by earlier versions, one per part, never orphaned) are kept.
func (h *Handler) sweepStaged(ctx context.Context, db, table string, run *runState) error {
	prefix := layout.TablePrefix(layout.PrefixStaged, db, table)
	p := s3.NewListObjectsV2Paginator(h.s3, &s3.ListObjectsV2Input{Bucket: aws.String(h.cfg.Bucket), Prefix: aws.String(prefix)})
	var orphans []string
	for p.HasMorePages() && !h.late(ctx) {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			orphan, err := h.stagedOrphan(ctx, db, table, key)
			if err != nil {
				return err
			}
			if orphan {
				orphans = append(orphans, key)
			}
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	if err := h.deleteObjects(ctx, orphans); err != nil {
		return fmt.Errorf("delete staged orphans of %s.%s: %w", db, table, err)
	}
	run.res.StagedOrphansDeleted += len(orphans)
	h.log.InfoContext(ctx, "staged orphans deleted", "db", db, "table", table, "objects", len(orphans))
	return nil
}

// stagedOrphan reports whether the staged object key is unreferenced for
// good: its ledger entry exists (read first) and its staged item does not.
func (h *Handler) stagedOrphan(ctx context.Context, db, table, key string) (bool, error) {
	head, err := h.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.cfg.Bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return false, nil // finished by a manifest meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("head %s: %w", key, err)
	}
	id, ok := layout.StagedObjectLedgerID(head.Metadata)
	if !ok {
		return false, nil
	}
	entry, err := h.ddb.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(h.cfg.LedgerTable), ConsistentRead: aws.Bool(true),
		Key:                  map[string]types.AttributeValue{layout.AttrLedgerID: str(id)},
		ProjectionExpression: aws.String(layout.AttrLedgerID),
	})
	if err != nil {
		return false, fmt.Errorf("read ledger entry of %s: %w", key, err)
	}
	if entry.Item == nil {
		return false, nil // its transaction may still commit
	}
	item, err := h.ddb.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(h.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
		Key:                  map[string]types.AttributeValue{layout.AttrPK: str(layout.StagedPK(db, table)), layout.AttrSK: str(key)},
		ProjectionExpression: aws.String(layout.AttrSK),
	})
	if err != nil {
		return false, fmt.Errorf("read staged item of %s: %w", key, err)
	}
	return item.Item == nil, nil
}

// isNotFound reports whether err is S3's answer to a HEAD of a missing key.
func isNotFound(err error) bool {
	var nf *s3types.NotFound
	var nsk *s3types.NoSuchKey
	return errors.As(err, &nf) || errors.As(err, &nsk)
}
