package lake

import (
	"context"
	"fmt"

	"github.com/apache/iceberg-go"
)

// Snapshot is what a reader of a table's current snapshot needs: its
// schema and the data files that hold its rows (from the snapshot's
// manifests, never from listing S3).
type Snapshot struct {
	// ID is the snapshot id; 0 for a table without data.
	ID int64
	// Schema is the table's current schema.
	Schema *iceberg.Schema
	// Files are the data files' locations (s3://bucket/key).
	Files []string
}

// Current returns the current snapshot of db.tbl
// (catalog.ErrNoSuchTable in the chain when it does not exist).
func (l *Lake) Current(ctx context.Context, db, tbl string) (Snapshot, error) {
	ctx = l.withAWS(ctx)
	t, err := l.Load(ctx, db, tbl)
	if err != nil {
		return Snapshot{}, err
	}
	out := Snapshot{Schema: t.Schema()}
	snap := t.CurrentSnapshot()
	if snap == nil {
		return out, nil
	}
	out.ID = snap.SnapshotID
	tasks, err := t.Scan().PlanFiles(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("plan files of %s.%s: %w", db, tbl, err)
	}
	for _, task := range tasks {
		out.Files = append(out.Files, task.File.FilePath())
	}
	return out, nil
}
