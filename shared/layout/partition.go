// Package layout owns Spillway's storage contract: the Partition type and
// every S3 object key (staged, late, sealed, quarantine, failed) and every
// DynamoDB key (catalog, ledger, manifests table) the functions write or
// read. Keys are formatted and parsed here and nowhere else; a package that
// needs a part of a key another package built asks this package's parser.
//
// Every key fits its service's limit for every legal name (3 to 255
// characters of [a-z0-9_] for database and table, see shared/names): S3
// keys at most MaxS3Key bytes, DynamoDB partition keys at most
// MaxPartitionKey bytes, sort keys at most MaxSortKey bytes. A variable
// component that would make a key too long (a part id built from long
// names, an oversized shard id or endpoint host) is replaced by its hashed
// form: a readable prefix of at most 64 bytes, the marker "!" and the hex
// SHA-256 of the full component. The marker never occurs in an S3 key
// component kept as is (escaping turns it into %21) and never starts a
// ledger id kept as is (ledger ids hash with an empty readable prefix), so
// distinct components never share a key. Keys whose
// components fit are byte-identical to the layout before this package.
// Readers never reverse a hash: what they need (database, table, hour) is
// never hashed, and the full part id is kept in the ledger item.
//
// Formatters take names that passed names.Validate; parsers validate what
// they return and wrap ErrMalformed.
package layout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spillwayhq/spillway/shared/names"
)

// ErrMalformed is wrapped by every parse error of this package.
var ErrMalformed = errors.New("malformed storage key")

// Partition is one UTC hour of one table.
type Partition struct {
	DB, Table string
	Hour      int64 // Unix seconds of the hour's start
}

// PartitionOf returns the partition of an event time (Unix seconds).
func PartitionOf(db, table string, t int64) Partition {
	h := t - ((t%3600)+3600)%3600
	return Partition{DB: db, Table: table, Hour: h}
}

// DT is the partition's date, YYYY-MM-DD.
func (p Partition) DT() string { return time.Unix(p.Hour, 0).UTC().Format(dateLayout) }

// HH is the partition's hour, 00-23.
func (p Partition) HH() string { return time.Unix(p.Hour, 0).UTC().Format("15") }

// Path is db=<db>/table=<table>/dt=<YYYY-MM-DD>/hour=<HH>, the partition's
// part of every S3 key that lies in a partition.
func (p Partition) Path() string {
	return TablePath(p.DB, p.Table) + "/dt=" + p.DT() + "/hour=" + p.HH()
}

// TablePath is db=<db>/table=<table>.
func TablePath(db, table string) string { return "db=" + db + "/table=" + table }

const dateLayout = "2006-01-02"

// ParsePath parses what Path formats.
func ParsePath(s string) (Partition, error) {
	f := strings.Split(s, "/")
	if len(f) != 4 {
		return Partition{}, fmt.Errorf("%w: partition path %q has %d segments, want 4", ErrMalformed, clip(s), len(f))
	}
	db, table, err := parseTablePath(f[0], f[1])
	if err != nil {
		return Partition{}, err
	}
	dt, ok1 := strings.CutPrefix(f[2], "dt=")
	hh, ok2 := strings.CutPrefix(f[3], "hour=")
	if !ok1 || !ok2 {
		return Partition{}, fmt.Errorf("%w: partition path %q lacks dt= or hour=", ErrMalformed, clip(s))
	}
	hour, err := parseHour(dt, hh)
	if err != nil {
		return Partition{}, fmt.Errorf("%w: partition path %q: %v", ErrMalformed, clip(s), err)
	}
	return Partition{DB: db, Table: table, Hour: hour}, nil
}

// parseTablePath parses the "db=<db>" and "table=<table>" segments.
func parseTablePath(dbSeg, tableSeg string) (db, table string, err error) {
	db, ok1 := strings.CutPrefix(dbSeg, "db=")
	table, ok2 := strings.CutPrefix(tableSeg, "table=")
	if !ok1 || !ok2 {
		return "", "", fmt.Errorf("%w: %q/%q is not db=<db>/table=<table>", ErrMalformed, clip(dbSeg), clip(tableSeg))
	}
	if err := errors.Join(names.Validate("database", db), names.Validate("table", table)); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return db, table, nil
}

// parseHour parses a date as DT formats it (the year may have more than
// four digits or a sign) and an hour as HH formats it, and returns the
// hour's start in Unix seconds. Only the canonical form is accepted.
func parseHour(dt, hh string) (int64, error) {
	j := strings.LastIndexByte(dt, '-')
	if j < 1 {
		return 0, fmt.Errorf("date %q is not YYYY-MM-DD", clip(dt))
	}
	i := strings.LastIndexByte(dt[:j], '-')
	if i < 1 {
		return 0, fmt.Errorf("date %q is not YYYY-MM-DD", clip(dt))
	}
	y, err1 := strconv.Atoi(dt[:i])
	m, err2 := strconv.Atoi(dt[i+1 : j])
	d, err3 := strconv.Atoi(dt[j+1:])
	h, err4 := strconv.Atoi(hh)
	if err := errors.Join(err1, err2, err3, err4); err != nil || len(hh) != 2 || h < 0 || h > 23 {
		return 0, fmt.Errorf("date %q hour %q is not YYYY-MM-DD and 00-23", clip(dt), clip(hh))
	}
	t := time.Date(y, time.Month(m), d, h, 0, 0, 0, time.UTC)
	if t.Format(dateLayout) != dt || t.Format("15") != hh {
		return 0, fmt.Errorf("date %q hour %q is not canonical", clip(dt), clip(hh))
	}
	return t.Unix(), nil
}

// clip shortens s for error messages so a hostile key cannot flood a log.
func clip(s string) string {
	const max = 96
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
