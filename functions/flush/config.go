package flush

import (
	"errors"
	"fmt"
	"time"
)

// Config is the typed configuration of the flush handler. main fills it from
// the environment (shared/lambdaenv names) over DefaultConfig.
type Config struct {
	Bucket        string // S3 bucket (staged/, late/, data/, failed/, manifests/) (SPILLWAY_BUCKET)
	CatalogTable  string // DynamoDB catalog: lists the tables to flush (SPILLWAY_CATALOG_TABLE)
	ManifestTable string // DynamoDB manifests table (staged items, manifests, sealed markers) (SPILLWAY_MANIFEST_TABLE)
	// LedgerTable is fanout's dedup ledger, read (GetItem) to tell staged
	// orphans (SPILLWAY_LEDGER_TABLE); "" turns the staged sweep off.
	LedgerTable     string
	SealTargetBytes int64         // uncompressed bytes at which a sealed object is cut (SPILLWAY_SEAL_TARGET_BYTES); a table is due by age (fanout's seal_after), not by size
	LateWindow      time.Duration // an hour is due once it ended this long ago (SPILLWAY_LATE_WINDOW)
	MaxClaim        int           // staged objects per manifest (its body object lists them; its item holds a partition hour per sealed object)
	// SweepEvery is how often a scheduled run passes over every table again
	// while the last pass found work, within its first 50 s
	// (SPILLWAY_SWEEP_EVERY); 0 passes once. It bounds how long the last
	// commits before traffic stops wait, when no later commit makes fanout
	// ask for a flush.
	SweepEvery time.Duration
	// LakeSnapshotAge is how long the lake keeps a snapshot before
	// scheduled runs expire it (SPILLWAY_LAKE_SNAPSHOT_AGE), like Iceberg's
	// history.expire.max-snapshot-age-ms; a snapshot whose seal a live
	// manifest may still append again is kept longer (see lakemaint.go).
	LakeSnapshotAge time.Duration
	// LakeKeepSnapshots is how many of a lake table's newest snapshots are
	// kept whatever their age (SPILLWAY_LAKE_KEEP_SNAPSHOTS), like
	// history.expire.min-snapshots-to-keep.
	LakeKeepSnapshots int
	// LakeOrphanAge is how old a file under a lake table's location that
	// no snapshot references must be before it is deleted
	// (SPILLWAY_LAKE_ORPHAN_AGE), like remove_orphan_files older_than: at
	// least MinLakeOrphanAge, so that a commit in flight keeps its files.
	LakeOrphanAge time.Duration
}

// MinLakeOrphanAge is the smallest LakeOrphanAge: four times Lambda's
// longest run (15 minutes), the longest a writer holds files it wrote but
// has not committed.
const MinLakeOrphanAge = time.Hour

// DefaultConfig returns the defaults: 64 MiB sealed objects, a 10-minute
// late window, 500 staged objects per manifest, a sweep every 30 s; lake
// snapshots expire after 5 days keeping at least the newest one, and
// unreferenced lake files are deleted after 3 days (Iceberg's defaults).
func DefaultConfig() Config {
	return Config{SealTargetBytes: 64 << 20, LateWindow: 10 * time.Minute, MaxClaim: 500, SweepEvery: 30 * time.Second,
		LakeSnapshotAge: 5 * 24 * time.Hour, LakeKeepSnapshots: 1, LakeOrphanAge: 3 * 24 * time.Hour}
}

// Validate reports every configuration problem at once, each prefixed with
// its field name.
func (c Config) Validate() error {
	var errs []error
	for _, f := range [][2]string{{"Bucket", c.Bucket}, {"CatalogTable", c.CatalogTable}, {"ManifestTable", c.ManifestTable}} {
		if f[1] == "" {
			errs = append(errs, fmt.Errorf("%s: required", f[0]))
		}
	}
	if c.SealTargetBytes <= 0 {
		errs = append(errs, fmt.Errorf("SealTargetBytes: must be positive, got %d", c.SealTargetBytes))
	}
	if c.LateWindow < 0 {
		errs = append(errs, fmt.Errorf("LateWindow: must not be negative, got %s", c.LateWindow))
	}
	if c.SweepEvery < 0 || c.SweepEvery > time.Minute {
		errs = append(errs, fmt.Errorf("SweepEvery: must be 0 to 1m, got %s", c.SweepEvery))
	}
	if c.MaxClaim < 1 || c.MaxClaim > 1000 {
		errs = append(errs, fmt.Errorf("MaxClaim: must be 1 to 1000, got %d", c.MaxClaim))
	}
	if c.LakeSnapshotAge < 0 {
		errs = append(errs, fmt.Errorf("LakeSnapshotAge: must not be negative, got %s", c.LakeSnapshotAge))
	}
	if c.LakeKeepSnapshots < 1 {
		errs = append(errs, fmt.Errorf("LakeKeepSnapshots: must be at least 1, got %d", c.LakeKeepSnapshots))
	}
	if c.LakeOrphanAge < MinLakeOrphanAge {
		errs = append(errs, fmt.Errorf("LakeOrphanAge: must be at least %s, got %s", MinLakeOrphanAge, c.LakeOrphanAge))
	}
	return errors.Join(errs...)
}
