package lake

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// Snapshot summary properties written by Append and Compact.
const (
	// SummarySealID carries the seal id of an Append's snapshot.
	SummarySealID = "spillway.seal-id"
	// SummaryRows is the number of records of an Append.
	SummaryRows = "spillway.rows"
	// SummaryCompactedHour marks a Compact snapshot with its hour (RFC 3339).
	SummaryCompactedHour = "spillway.compacted-hour"
)

// Result is the outcome of an Append.
type Result struct {
	// SnapshotID is the snapshot that carries the seal: the new one, or
	// the one found when Duplicate.
	SnapshotID int64
	// Rows is the number of records appended (0 when Duplicate).
	Rows int
	// Duplicate is true when the seal was already in the table, so nothing
	// was written.
	Duplicate bool
	// Attempts counts load-check-commit rounds (1 without conflicts).
	Attempts int
	// AddedColumns lists the columns this append added to the schema.
	AddedColumns []string
	// Conflicts reports columns seen with conflicting types.
	Conflicts []Conflict
	// TimeOverflow counts records whose time has no timestamptz form
	// (null "time", kept "td_time").
	TimeOverflow int
}

// Append appends the records of stream, a decompressed TD record stream
// (msgpack maps with an integer "time", decoded by tdrecord), to table
// db.tbl with one Iceberg commit whose snapshot summary carries sealID,
// creating the table on first use and adding new columns in the same
// commit. When a snapshot of the table already carries sealID, Append
// writes nothing and returns Duplicate: a resumed or racing call for one
// seal appends once. Commit conflicts are retried (reload, re-check,
// re-write) up to Config.MaxAttempts times; other errors are returned and
// the call may be repeated. An empty stream appends nothing.
func (l *Lake) Append(ctx context.Context, db, tbl, sealID string, stream []byte) (Result, error) {
	id, err := identifier(db, tbl)
	if err != nil {
		return Result{}, err
	}
	if l.cfg.ReadOnly {
		return Result{}, errors.New("append: the lake is read-only")
	}
	if sealID == "" {
		return Result{}, errors.New("append: empty seal id")
	}
	records, err := tdrecord.Decode(stream, tdrecord.StoreLimits(max(len(stream), 1)))
	if err != nil {
		return Result{}, fmt.Errorf("append seal %s to %s.%s: decode records: %w", sealID, db, tbl, err)
	}
	if len(records) == 0 {
		return Result{}, nil
	}
	ctx = l.withAWS(ctx)
	log := l.log.With("db", db, "table", tbl, "seal_id", sealID)
	for attempt := 1; ; attempt++ {
		t, err := l.loadOrCreate(ctx, id)
		if err != nil {
			return Result{Attempts: attempt}, err
		}
		if v := t.Properties()[table.CommitNumRetriesKey]; v != "" && v != "0" {
			// iceberg-go would replay a conflicting commit without the
			// seal check: two racing writers of one seal could both land.
			log.Warn("lake table retries commits itself; set it to 0 for exactly-once", table.CommitNumRetriesKey, v)
		}
		if snap := findSeal(t.Metadata(), sealID); snap != nil {
			log.Info("lake seal already appended", "snapshot_id", snap.SnapshotID, "attempt", attempt)
			return Result{SnapshotID: snap.SnapshotID, Duplicate: true, Attempts: attempt}, nil
		}
		res, err := l.appendOnce(ctx, t, sealID, records)
		res.Attempts = attempt
		if err == nil {
			for _, c := range res.Conflicts {
				log.Warn("lake column type conflict", "column", c.Column, "table_type", c.Table, "seen", c.Seen, "stored_in", c.StoredIn)
			}
			log.Info("lake append committed", "snapshot_id", res.SnapshotID, "rows", res.Rows, "attempt", attempt, "added_columns", res.AddedColumns)
			if ferr := l.cfg.Fault(ctx, FaultCommitted); ferr != nil {
				return res, fmt.Errorf("append seal %s: %w", sealID, ferr)
			}
			return res, nil
		}
		if !isConflict(err) {
			return res, fmt.Errorf("append seal %s to %s.%s: %w", sealID, db, tbl, err)
		}
		if attempt >= l.cfg.MaxAttempts {
			return res, fmt.Errorf("append seal %s to %s.%s after %d attempts: %w: %w", sealID, db, tbl, attempt, ErrConflict, err)
		}
		log.Info("lake commit conflict, retrying", "attempt", attempt, "err", err)
		if err := backoff(ctx, attempt); err != nil {
			return res, fmt.Errorf("append seal %s: %w", sealID, err)
		}
	}
}

// appendOnce evolves the schema, writes the data files and commits, all in
// one transaction on t.
func (l *Lake) appendOnce(ctx context.Context, t *table.Table, sealID string, records []map[string]any) (Result, error) {
	tx := t.NewTransaction()
	if err := l.upgrade(t, tx); err != nil {
		return Result{}, err
	}
	p := planSchema(t.Schema(), records)
	res := Result{Conflicts: p.conflicts}
	if len(p.adds) > 0 {
		us := tx.UpdateSchema(true, false)
		for _, a := range p.adds {
			us.AddColumn([]string{a.name}, a.kind.icebergType(), "", false, nil)
			res.AddedColumns = append(res.AddedColumns, a.name)
		}
		if err := us.Commit(); err != nil {
			return res, fmt.Errorf("add columns %v: %w", res.AddedColumns, err)
		}
	}
	staged, err := tx.StagedTable()
	if err != nil {
		return res, fmt.Errorf("stage schema: %w", err)
	}
	b, err := toArrow(staged.Schema(), p, records)
	if err != nil {
		return res, err
	}
	defer b.rec.Release()
	res.TimeOverflow = b.timeOverflow
	rdr, err := array.NewRecordReader(b.rec.Schema(), []arrow.RecordBatch{b.rec})
	if err != nil {
		return res, fmt.Errorf("record reader: %w", err)
	}
	defer rdr.Release()
	props := iceberg.Properties{SummarySealID: sealID, SummaryRows: strconv.Itoa(len(records))}
	if err := tx.Append(ctx, rdr, props); err != nil {
		return res, fmt.Errorf("write data files: %w", err)
	}
	if err := l.cfg.Fault(ctx, FaultDataWritten); err != nil {
		return res, err
	}
	nt, err := tx.Commit(ctx)
	if err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	res.Rows = len(records)
	if s := nt.CurrentSnapshot(); s != nil {
		res.SnapshotID = s.SnapshotID
	}
	return res, nil
}

// upgrade sets, in tx, the upgradeProperties t lacks to their values in
// tableProperties.
func (l *Lake) upgrade(t *table.Table, tx *table.Transaction) error {
	want := l.tableProperties()
	set := iceberg.Properties{}
	for _, k := range upgradeProperties {
		if _, ok := t.Properties()[k]; !ok {
			set[k] = want[k]
		}
	}
	if len(set) == 0 {
		return nil
	}
	if err := tx.SetProperties(set); err != nil {
		return fmt.Errorf("set table properties %v: %w", set, err)
	}
	return nil
}

// findSeal returns the snapshot of the main branch's history whose summary
// carries sealID, or nil.
func findSeal(m table.Metadata, sealID string) *table.Snapshot {
	snap := m.SnapshotByName(table.MainBranch)
	for snap != nil {
		if snap.Summary != nil && snap.Summary.Properties[SummarySealID] == sealID {
			return snap
		}
		if snap.ParentSnapshotID == nil {
			return nil
		}
		snap = m.SnapshotByID(*snap.ParentSnapshotID)
	}
	return nil
}
