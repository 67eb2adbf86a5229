package lake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// Fault points of table maintenance, passed to Config.Fault.
const (
	// FaultExpired is reached after an Expire commit landed (and
	// iceberg-go deleted the files only expired snapshots referenced).
	FaultExpired = "lake-expired"
	// FaultOrphansPlanned is reached after RemoveOrphans listed the files
	// to delete and before it deletes them.
	FaultOrphansPlanned = "lake-orphans-planned"
)

// Seal is a main-branch snapshot of a table that carries a seal id.
type Seal struct {
	// ID is the seal id (SummarySealID).
	ID string
	// SnapshotID is the snapshot that carries it.
	SnapshotID int64
	// Time is the snapshot's commit time.
	Time time.Time
}

// Seals lists the seal-carrying snapshots of db.tbl's main branch, newest
// first (none for a missing table). Expire removes the evidence Append
// checks for: callers decide from this list which seals must survive.
func (l *Lake) Seals(ctx context.Context, db, tbl string) ([]Seal, error) {
	t, err := l.Load(l.withAWS(ctx), db, tbl)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Seal
	m := t.Metadata()
	for snap := m.SnapshotByName(table.MainBranch); snap != nil; {
		if snap.Summary != nil && snap.Summary.Properties[SummarySealID] != "" {
			out = append(out, Seal{ID: snap.Summary.Properties[SummarySealID], SnapshotID: snap.SnapshotID, Time: time.UnixMilli(snap.TimestampMs)})
		}
		if snap.ParentSnapshotID == nil {
			break
		}
		snap = m.SnapshotByID(*snap.ParentSnapshotID)
	}
	return out, nil
}

// ExpireResult is the outcome of an Expire.
type ExpireResult struct {
	// Expired counts the snapshots removed; Kept those left.
	Expired, Kept int
	// Attempts counts load-expire-commit rounds.
	Attempts int
}

// expireMargin keeps snapshots a little younger than the cutoff asked for:
// iceberg-go measures snapshot ages from its own clock reading, taken
// after Expire computes the age limit from before. Expire checks the
// staged result as well, so the margin only saves a retry.
const expireMargin = time.Second

// Expire removes the snapshots of db.tbl committed before before (less
// expireMargin), except the retainLast newest of the main branch (at
// least 1), with one commit (iceberg-go's ExpireSnapshots), and deletes
// the manifest lists, manifests and data files that only the removed
// snapshots referenced (iceberg-go's post-commit cleanup; files a crash
// leaves behind are RemoveOrphans's). Conflicts with concurrent commits
// are retried on the reloaded table. A missing table is not an error.
//
// A removed snapshot's seal id is gone for Append's duplicate check:
// before must be older than every seal a writer could still append again
// (see the package doc).
func (l *Lake) Expire(ctx context.Context, db, tbl string, before time.Time, retainLast int) (ExpireResult, error) {
	id, err := identifier(db, tbl)
	if err != nil {
		return ExpireResult{}, err
	}
	if l.cfg.ReadOnly {
		return ExpireResult{}, errors.New("expire: the lake is read-only")
	}
	ctx = l.withAWS(ctx)
	log := l.log.With("db", db, "table", tbl)
	for attempt := 1; ; attempt++ {
		res := ExpireResult{Attempts: attempt}
		t, err := l.cat.LoadTable(ctx, id)
		if errors.Is(err, catalog.ErrNoSuchTable) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("expire snapshots of %s.%s: load: %w", db, tbl, err)
		}
		n := len(t.Metadata().Snapshots())
		if n == 0 {
			return res, nil
		}
		tx := t.NewTransaction()
		// Never zero or negative: iceberg-go reads 0 as "no limit".
		age := max(time.Since(before.Add(-expireMargin)), time.Millisecond)
		if err := tx.ExpireSnapshots(table.WithOlderThan(age), table.WithRetainLast(max(retainLast, 1))); err != nil {
			return res, fmt.Errorf("expire snapshots of %s.%s: %w", db, tbl, err)
		}
		if err := keptSince(t, tx, before); err != nil {
			return res, fmt.Errorf("expire snapshots of %s.%s: %w", db, tbl, err)
		}
		nt, err := tx.Commit(ctx)
		if err == nil || !isConflict(err) {
			if nt != nil {
				res.Kept = len(nt.Metadata().Snapshots())
				res.Expired = n - res.Kept
			}
			if err != nil {
				// The commit may have landed and only the cleanup failed:
				// RemoveOrphans deletes what it left.
				return res, fmt.Errorf("expire snapshots of %s.%s: %w", db, tbl, err)
			}
			if res.Expired > 0 {
				log.Info("lake snapshots expired", "expired", res.Expired, "kept", res.Kept, "before", before.UTC().Format(time.RFC3339), "attempt", attempt)
				if ferr := l.cfg.Fault(ctx, FaultExpired); ferr != nil {
					return res, fmt.Errorf("expire snapshots of %s.%s: %w", db, tbl, ferr)
				}
			}
			return res, nil
		}
		if attempt >= l.cfg.MaxAttempts {
			return res, fmt.Errorf("expire snapshots of %s.%s after %d attempts: %w: %w", db, tbl, attempt, ErrConflict, err)
		}
		log.Info("lake expiry conflict, retrying", "attempt", attempt, "err", err)
		if err := backoff(ctx, attempt); err != nil {
			return res, fmt.Errorf("expire snapshots of %s.%s: %w", db, tbl, err)
		}
	}
}

// keptSince checks that tx removes no snapshot of t committed at or after
// before: the cutoff is a promise to callers, whatever iceberg-go's clock
// read.
func keptSince(t *table.Table, tx *table.Transaction, before time.Time) error {
	staged, err := tx.StagedTable()
	if err != nil {
		return fmt.Errorf("stage expiry: %w", err)
	}
	for _, s := range t.Metadata().Snapshots() {
		if s.TimestampMs >= before.UnixMilli() && staged.Metadata().SnapshotByID(s.SnapshotID) == nil {
			return fmt.Errorf("expiry would remove snapshot %d committed at %s, after the cutoff %s", s.SnapshotID,
				time.UnixMilli(s.TimestampMs).UTC().Format(time.RFC3339Nano), before.UTC().Format(time.RFC3339Nano))
		}
	}
	return nil
}

// OrphanResult is the outcome of a RemoveOrphans.
type OrphanResult struct {
	// Files are the deleted files' locations; Bytes their total size.
	Files []string
	Bytes int64
}

// RemoveOrphans deletes the files under db.tbl's location that no snapshot
// and no metadata file of the table references and that are older than
// olderThan (iceberg-go's DeleteOrphanFiles: it lists S3 and compares with
// every live snapshot's manifests): data and metadata files of commits
// that never landed (a crash, a lost conflict) and files an expiry's
// cleanup left. olderThan must exceed the longest a writer takes from
// writing a file to committing it, or an in-flight commit loses its files.
// A missing table is not an error.
func (l *Lake) RemoveOrphans(ctx context.Context, db, tbl string, olderThan time.Duration) (OrphanResult, error) {
	if l.cfg.ReadOnly {
		return OrphanResult{}, errors.New("remove orphans: the lake is read-only")
	}
	ctx = l.withAWS(ctx)
	t, err := l.Load(ctx, db, tbl)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return OrphanResult{}, nil
	}
	if err != nil {
		return OrphanResult{}, err
	}
	plan, err := t.PlanOrphanFiles(ctx, table.WithFilesOlderThan(olderThan))
	if err != nil {
		return OrphanResult{}, fmt.Errorf("plan orphan files of %s.%s: %w", db, tbl, err)
	}
	files := plan.Files()
	if len(files) == 0 {
		return OrphanResult{}, nil
	}
	if err := l.cfg.Fault(ctx, FaultOrphansPlanned); err != nil {
		return OrphanResult{}, fmt.Errorf("remove orphans of %s.%s: %w", db, tbl, err)
	}
	res, err := t.ExecuteOrphanCleanup(ctx, plan)
	if err != nil {
		return OrphanResult{}, fmt.Errorf("delete orphan files of %s.%s: %w", db, tbl, err)
	}
	l.log.Info("lake orphan files deleted", "db", db, "table", tbl, "files", len(res.DeletedFiles), "bytes", plan.TotalSizeBytes())
	return OrphanResult{Files: res.DeletedFiles, Bytes: plan.TotalSizeBytes()}, nil
}
