package lake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// CompactResult is the outcome of a Compact.
type CompactResult struct {
	// SnapshotID is the rewrite's snapshot; 0 when nothing was rewritten.
	SnapshotID int64
	// FilesBefore and FilesAfter count the hour's rewritten files and the
	// files that replaced them.
	FilesBefore, FilesAfter int
	// BytesBefore and BytesAfter are their sizes.
	BytesBefore, BytesAfter int64
	// Attempts counts load-plan-commit rounds.
	Attempts int
}

// Compact rewrites the small data files of one hour of db.tbl (hour is
// truncated to the hour, UTC) into files of about targetBytes
// (Config.TargetFileBytes when 0) with one commit, which readers see
// atomically: before it the small files, after it the new ones, never
// both. A file is small below 3/4 of the target; an hour with fewer than
// two small files is left alone, so Compact is idempotent (a second call
// finds nothing to do). Conflicts with concurrent appends are retried by
// replanning on the reloaded table. A missing table is not an error.
func (l *Lake) Compact(ctx context.Context, db, tbl string, hour time.Time, targetBytes int64) (CompactResult, error) {
	id, err := identifier(db, tbl)
	if err != nil {
		return CompactResult{}, err
	}
	if l.cfg.ReadOnly {
		return CompactResult{}, errors.New("compact: the lake is read-only")
	}
	if targetBytes <= 0 {
		targetBytes = l.cfg.TargetFileBytes
	}
	ctx = l.withAWS(ctx)
	hour = hour.UTC().Truncate(time.Hour)
	log := l.log.With("db", db, "table", tbl, "hour", hour.Format(time.RFC3339))
	for attempt := 1; ; attempt++ {
		t, err := l.cat.LoadTable(ctx, id)
		if errors.Is(err, catalog.ErrNoSuchTable) {
			return CompactResult{Attempts: attempt}, nil
		}
		if err != nil {
			return CompactResult{Attempts: attempt}, fmt.Errorf("compact %s.%s: load: %w", db, tbl, err)
		}
		res, err := l.compactOnce(ctx, t, hour, targetBytes)
		res.Attempts = attempt
		if err == nil {
			if res.SnapshotID != 0 {
				log.Info("lake hour compacted", "snapshot_id", res.SnapshotID, "files_before", res.FilesBefore, "files_after", res.FilesAfter,
					"bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter, "attempt", attempt)
				if ferr := l.cfg.Fault(ctx, FaultCommitted); ferr != nil {
					return res, fmt.Errorf("compact %s.%s: %w", db, tbl, ferr)
				}
			}
			return res, nil
		}
		if !isConflict(err) {
			return res, fmt.Errorf("compact %s.%s hour %s: %w", db, tbl, hour.Format(time.RFC3339), err)
		}
		if attempt >= l.cfg.MaxAttempts {
			return res, fmt.Errorf("compact %s.%s after %d attempts: %w: %w", db, tbl, attempt, ErrConflict, err)
		}
		log.Info("lake compaction conflict, retrying", "attempt", attempt, "err", err)
		if err := backoff(ctx, attempt); err != nil {
			return res, fmt.Errorf("compact %s.%s: %w", db, tbl, err)
		}
	}
}

// compactOnce plans the hour's small files on t and rewrites them in one
// transaction.
func (l *Lake) compactOnce(ctx context.Context, t *table.Table, hour time.Time, target int64) (CompactResult, error) {
	tasks, err := hourFiles(ctx, t, hour)
	if err != nil {
		return CompactResult{}, err
	}
	var small []table.FileScanTask
	var res CompactResult
	for _, task := range tasks {
		if len(task.DeleteFiles)+len(task.EqualityDeleteFiles)+len(task.DeletionVectorFiles) > 0 {
			continue // Spillway writes no deletes; leave such files to other tools
		}
		if task.File.FileSizeBytes() < target*3/4 {
			small = append(small, task)
			res.BytesBefore += task.File.FileSizeBytes()
		}
	}
	if len(small) < 2 {
		return CompactResult{}, nil
	}
	res.FilesBefore = len(small)
	tx := t.NewTransaction()
	rr, err := tx.RewriteDataFiles(ctx, []table.CompactionTaskGroup{{
		PartitionKey: hour.Format(time.RFC3339), Tasks: small, TotalSizeBytes: res.BytesBefore,
	}}, table.RewriteDataFilesOptions{
		SnapshotProps: iceberg.Properties{SummaryCompactedHour: hour.Format(time.RFC3339)},
		GroupOptions:  []table.CompactionGroupOption{table.WithCompactionTargetFileSize(target)},
	})
	if err != nil {
		return res, fmt.Errorf("rewrite data files: %w", err)
	}
	res.FilesAfter, res.BytesAfter = rr.AddedDataFiles, rr.BytesAfter
	if err := l.cfg.Fault(ctx, FaultDataWritten); err != nil {
		return res, err
	}
	nt, err := tx.Commit(ctx)
	if err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	if s := nt.CurrentSnapshot(); s != nil {
		res.SnapshotID = s.SnapshotID
	}
	return res, nil
}

// hourFiles lists the current snapshot's files in the partition hour(time)
// = hour, from the snapshot's manifests (never by listing S3), pruned by a
// row filter on the hour.
func hourFiles(ctx context.Context, t *table.Table, hour time.Time) ([]table.FileScanTask, error) {
	if t.CurrentSnapshot() == nil {
		return nil, nil
	}
	spec := t.Spec()
	fieldID := -1
	for _, f := range spec.Fields() {
		if f.Name == HourPartition {
			fieldID = f.FieldID
		}
	}
	if fieldID < 0 {
		return nil, fmt.Errorf("table has no %s partition", HourPartition)
	}
	// The row filter prunes manifests and files by partition; the
	// partition check below keeps exactly the hour's files.
	from := iceberg.Timestamp(hour.UnixMicro())
	filter := iceberg.NewAnd(
		iceberg.GreaterThanEqual(iceberg.Reference(TimeColumn), from),
		iceberg.LessThan(iceberg.Reference(TimeColumn), from+iceberg.Timestamp(time.Hour.Microseconds())))
	tasks, err := t.Scan(table.WithRowFilter(filter)).PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan files: %w", err)
	}
	want := hour.Unix() / 3600
	var out []table.FileScanTask
	for _, task := range tasks {
		if task.File.SpecID() != int32(spec.ID()) {
			continue
		}
		if h, ok := hourValue(task.File.Partition()[fieldID]); ok && h == want {
			task.Residual = nil // a rewrite copies whole files, never filtered rows
			out = append(out, task)
		}
	}
	return out, nil
}

// hourValue reads an hour partition value (hours since the epoch).
func hourValue(v any) (int64, bool) {
	switch x := v.(type) {
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}
