package lake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// CompactResult is the outcome of a Compact.
type CompactResult struct {
	// SnapshotID is the last rewrite's snapshot; 0 when nothing was
	// rewritten.
	SnapshotID int64
	// Commits counts the rewrite commits, one per group of small files.
	Commits int
	// FilesBefore and FilesAfter count the hour's rewritten files and the
	// files that replaced them, summed over the commits.
	FilesBefore, FilesAfter int
	// BytesBefore and BytesAfter are their sizes.
	BytesBefore, BytesAfter int64
	// Attempts counts load-plan-commit rounds.
	Attempts int
	// Stopped reports that the call returned because stop said so, before
	// it had planned the hour done: small files may be left, and a later
	// call goes on from the last group committed.
	Stopped bool
}

// add counts one group's rewrite into r.
func (r *CompactResult) add(g CompactResult) {
	r.SnapshotID = g.SnapshotID
	r.Commits++
	r.FilesBefore += g.FilesBefore
	r.FilesAfter += g.FilesAfter
	r.BytesBefore += g.BytesBefore
	r.BytesAfter += g.BytesAfter
}

// Compact rewrites the small data files of one hour of db.tbl (hour is
// truncated to the hour, UTC) into files of at most about targetBytes
// (Config.TargetFileBytes when 0). A file is small below 3/4 of the
// target. The small files are rewritten in groups of at most
// Config.CompactMaxRows rows (packGroups), one commit per group, so the
// memory a rewrite holds, which grows with its rows, is bounded whatever
// the hour holds. Readers see each commit atomically: before it a group's
// small files, after it their replacement, never both and never neither.
// A group of one file is left alone, so Compact is idempotent (a second
// call finds nothing to do). Conflicts with concurrent appends are
// retried by replanning on the reloaded table; every commit replans, so
// a call that fails midway (a crash, ctx ending) leaves whole groups
// committed and the next call goes on from there. A missing table is not
// an error.
//
// stop (nil: never) is asked before each group, the first included, and
// before each retry: when it reports true, Compact returns at once with
// Stopped set and no error, so that a caller with a deadline ends between
// two commits instead of inside one.
func (l *Lake) Compact(ctx context.Context, db, tbl string, hour time.Time, targetBytes int64, stop func() bool) (CompactResult, error) {
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
	var total CompactResult
	for conflicts := 0; ; {
		if stop != nil && stop() {
			total.Stopped = true
			log.Info("lake hour compaction stopped, a later call goes on", "commits", total.Commits, "attempts", total.Attempts)
			return total, nil
		}
		total.Attempts++
		t, err := l.cat.LoadTable(ctx, id)
		if errors.Is(err, catalog.ErrNoSuchTable) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("compact %s.%s: load: %w", db, tbl, err)
		}
		res, more, err := l.compactOnce(ctx, t, hour, targetBytes)
		if err == nil {
			if res.SnapshotID == 0 {
				return total, nil
			}
			total.add(res)
			log.Info("lake hour group compacted", "snapshot_id", res.SnapshotID, "commit", total.Commits, "files_before", res.FilesBefore,
				"files_after", res.FilesAfter, "bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter, "attempt", total.Attempts)
			if ferr := l.cfg.Fault(ctx, FaultCommitted); ferr != nil {
				return total, fmt.Errorf("compact %s.%s: %w", db, tbl, ferr)
			}
			if !more {
				return total, nil
			}
			conflicts = 0
			continue
		}
		if !isConflict(err) {
			return total, fmt.Errorf("compact %s.%s hour %s: %w", db, tbl, hour.Format(time.RFC3339), err)
		}
		conflicts++
		if conflicts >= l.cfg.MaxAttempts {
			return total, fmt.Errorf("compact %s.%s after %d attempts: %w: %w", db, tbl, conflicts, ErrConflict, err)
		}
		log.Info("lake compaction conflict, retrying", "attempt", conflicts, "err", err)
		if err := backoff(ctx, conflicts); err != nil {
			return total, fmt.Errorf("compact %s.%s: %w", db, tbl, err)
		}
	}
}

// compactOnce plans the hour's small files on t and rewrites the first
// group of them in one transaction; more reports whether the plan had
// further groups.
func (l *Lake) compactOnce(ctx context.Context, t *table.Table, hour time.Time, target int64) (res CompactResult, more bool, err error) {
	tasks, err := hourFiles(ctx, t, hour)
	if err != nil {
		return CompactResult{}, false, err
	}
	var small []table.FileScanTask
	for _, task := range tasks {
		if len(task.DeleteFiles)+len(task.EqualityDeleteFiles)+len(task.DeletionVectorFiles) > 0 {
			continue // Spillway writes no deletes; leave such files to other tools
		}
		if task.File.FileSizeBytes() < target*3/4 {
			small = append(small, task)
		}
	}
	groups := packGroups(small, l.cfg.CompactMaxRows)
	if len(groups) == 0 {
		return CompactResult{}, false, nil
	}
	group := groups[0]
	res.FilesBefore = len(group)
	for _, task := range group {
		res.BytesBefore += task.File.FileSizeBytes()
	}
	tx := t.NewTransaction()
	rr, err := tx.RewriteDataFiles(ctx, []table.CompactionTaskGroup{{
		PartitionKey: hour.Format(time.RFC3339), Tasks: group, TotalSizeBytes: res.BytesBefore,
	}}, table.RewriteDataFilesOptions{
		SnapshotProps: iceberg.Properties{SummaryCompactedHour: hour.Format(time.RFC3339)},
		GroupOptions:  []table.CompactionGroupOption{table.WithCompactionTargetFileSize(target)},
	})
	if err != nil {
		return res, false, fmt.Errorf("rewrite data files: %w", err)
	}
	res.FilesAfter, res.BytesAfter = rr.AddedDataFiles, rr.BytesAfter
	if err := l.cfg.Fault(ctx, FaultDataWritten); err != nil {
		return res, false, err
	}
	nt, err := tx.Commit(ctx)
	if err != nil {
		return res, false, fmt.Errorf("commit: %w", err)
	}
	if s := nt.CurrentSnapshot(); s != nil {
		res.SnapshotID = s.SnapshotID
	}
	return res, len(groups) > 1, nil
}

// packGroups splits an hour's small files into the groups Compact
// rewrites, each of at most maxRows rows (DataFile.Count), dropping groups
// of one file: rewriting a file alone gains nothing, and a file of more
// than maxRows rows stays as it is. The files are taken smallest first
// (then by path, so that a plan is deterministic), each group filled until
// the next file would pass maxRows. (iceberg-go's compaction planner packs
// by bytes only, which does not bound the rows a rewrite holds.)
//
// Smallest first makes the result stable. Once a group closes with one
// file, every later pair of files is larger, so the groups of two or more
// files come first. A group's rows plus the file that closed it exceed
// maxRows, and every later file, and every later group, is at least that
// large: so a group's replacement (one file, while a group stays below
// the target size) never fits a group with anything left, and planning
// the result again finds nothing to do.
func packGroups(files []table.FileScanTask, maxRows int64) [][]table.FileScanTask {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b table.FileScanTask) int {
		return cmp.Or(cmp.Compare(a.File.Count(), b.File.Count()), strings.Compare(a.File.FilePath(), b.File.FilePath()))
	})
	var groups [][]table.FileScanTask
	var cur []table.FileScanTask
	var rows int64
	for _, f := range files {
		if len(cur) > 0 && rows+f.File.Count() > maxRows {
			groups, cur, rows = append(groups, cur), nil, 0
		}
		cur, rows = append(cur, f), rows+f.File.Count()
	}
	groups = append(groups, cur)
	return slices.DeleteFunc(groups, func(g []table.FileScanTask) bool { return len(g) < 2 })
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
