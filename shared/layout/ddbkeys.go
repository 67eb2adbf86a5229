package layout

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spillwayhq/spillway/shared/names"
)

// DynamoDB's limits on key attribute values, in bytes (UTF-8).
const (
	MaxPartitionKey = 2048
	MaxSortKey      = 1024
)

// Key attribute names of the tables whose keys this package formats (the
// key schema Terraform declares; infra/terraform checks that they agree).
const (
	// AttrCatalogDB and AttrCatalogTable are the catalog's HASH and RANGE
	// attributes.
	AttrCatalogDB    = "db"
	AttrCatalogTable = "table"
	// AttrLedgerID is the ledger's HASH attribute (LedgerID).
	AttrLedgerID = "id"
	// AttrPK and AttrSK are the manifests table's HASH and RANGE attributes
	// (StagedPK, ManifestPK, SealedPK and their sort keys).
	AttrPK = "pk"
	AttrSK = "sk"
)

// Catalog table: HASH db (S), RANGE table (S).

// DatabaseItem is the catalog range key of a database's own item; it can
// never be a table name ("#" is not a name character).
const DatabaseItem = "#database"

// CatalogKey returns the catalog key (hash, range) of db.table; table ""
// names the database's own item.
func CatalogKey(db, table string) (hash, rng string) {
	if table == "" {
		return db, DatabaseItem
	}
	return db, table
}

// ParseCatalogKey parses a catalog key; table is "" for a database's own
// item.
func ParseCatalogKey(hash, rng string) (db, table string, err error) {
	if err := names.Validate("database", hash); err != nil {
		return "", "", fmt.Errorf("%w: catalog key: %w", ErrMalformed, err)
	}
	if rng == DatabaseItem {
		return hash, "", nil
	}
	if err := names.Validate("table", rng); err != nil {
		return "", "", fmt.Errorf("%w: catalog key: %w", ErrMalformed, err)
	}
	return hash, rng, nil
}

// CounterMark separates a table name from the number of one of its counter
// items in a catalog range key ("<table>#c<n>"); "#" is not a name
// character, so a counter key is never a table's or a database's key.
const CounterMark = "#c"

// MaxCounterItems bounds the counter items of a table (CounterKey's n).
const MaxCounterItems = 1000

// CounterKey returns the catalog key (hash, range) of counter item n
// (0 <= n < MaxCounterItems) of db.table. A table's counters (count, bytes,
// late_count, future_count, last_import_at) are spread over such items so
// that concurrent commits of one table touch different items; a reader
// sums them (shared/catalog.Fold). The table's own item keeps what is
// written rarely: schema, min_time, max_time, created_at.
func CounterKey(db, table string, n int) (hash, rng string) {
	return db, table + CounterMark + strconv.Itoa(n)
}

// ParseCounterKey parses a counter item's catalog key; ok is false (and
// err nil) for any other catalog key.
func ParseCounterKey(hash, rng string) (db, table string, n int, ok bool, err error) {
	t, num, found := strings.Cut(rng, CounterMark)
	if !found || t == "" {
		return "", "", 0, false, nil
	}
	if err := names.Validate("database", hash); err != nil {
		return "", "", 0, false, fmt.Errorf("%w: counter key: %w", ErrMalformed, err)
	}
	if err := names.Validate("table", t); err != nil {
		return "", "", 0, false, fmt.Errorf("%w: counter key: %w", ErrMalformed, err)
	}
	n, err = strconv.Atoi(num)
	if err != nil || n < 0 || n >= MaxCounterItems || strconv.Itoa(n) != num {
		return "", "", 0, false, fmt.Errorf("%w: counter key %q: bad item number", ErrMalformed, clip(rng))
	}
	return hash, t, n, true, nil
}

// TableItemsRange returns the inclusive range-key bounds that select, in a
// Query on the database's hash key, exactly the table's item and its
// counter items: every other name sorts outside it (name characters sort
// after "#", and "$" is none of them).
func TableItemsRange(table string) (lo, hi string) { return table, table + "$" }

// Ledger table: HASH id (S).

// LedgerID is the dedup ledger key of a part (envelope.PartID of validated
// names). The part id is used as is when it is valid UTF-8 and at most
// MaxPartitionKey bytes (every id ingest produces, and every id that was a
// ledger key before this package); otherwise it is hashed with an empty
// readable prefix: HashMark and the hex SHA-256 of the part id. A part id
// starts with a database name, never with HashMark, so the forms never meet.
func LedgerID(partID string) string {
	if partID != "" && len(partID) <= MaxPartitionKey && utf8.ValidString(partID) && !strings.HasPrefix(partID, HashMark) {
		return partID
	}
	return hashed(partID, "")
}

// ParseLedgerID returns the part id of a ledger key; ok is false when the
// key is hashed (the ledger item's db, table, unique_id and part attributes
// hold the part's identity).
func ParseLedgerID(id string) (partID string, ok bool, err error) {
	if id == "" || len(id) > MaxPartitionKey || !utf8.ValidString(id) {
		return "", false, fmt.Errorf("%w: ledger id of %d bytes", ErrMalformed, len(id))
	}
	if h, ok := strings.CutPrefix(id, HashMark); ok {
		if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			return "", false, fmt.Errorf("%w: ledger id %q is not %s and a SHA-256", ErrMalformed, clip(id), HashMark)
		}
		return "", false, nil
	}
	return id, true, nil
}

// Manifests table: HASH pk (S), RANGE sk (S). One table holds three kinds
// of items, told apart by the partition key's kind:
//
//	pk staged#<db>.<table>   sk the staged or late object key (StagedKey)
//	pk manifest#<db>.<table> sk the manifest id (NewManifestID)
//	pk sealed#<db>.<table>   sk <YYYY-MM-DD>/<HH> (Partition.SealedSK)
//	pk request#<db>.<table>  sk FlushRequestSK (a pending flush request)
//	pk compact#<db>.<table>  sk <YYYY-MM-DD>/<HH> (Partition.SealedSK): a lake hour to compact
//	pk lake#<db>.<table>     sk LakeExpirySK: the lake snapshot cutoff observed safe to expire
//
// Sealed-hour markers were written by releases that sealed an hour only
// once it closed; they are no longer written or read, and old ones are
// harmless.

// Kinds of manifests-table partition keys.
const (
	KindStaged   = "staged"
	KindManifest = "manifest"
	KindSealed   = "sealed"
	KindRequest  = "request"
	KindCompact  = "compact"
	KindLake     = "lake"
)

// LakeExpirySK is the sort key of a table's lake expiry item (under
// LakePK): the snapshot cutoff flush observed as safe to expire, and when.
const LakeExpirySK = "expiry"

// FlushRequestSK is the sort key of a table's flush-request item (under
// RequestPK): fanout sets it when it asks for a flush of the table, and
// flush deletes it when it starts on the table, so at most one request per
// table is pending.
const FlushRequestSK = "flush"

// RequestPK is the manifests-table partition key of a table's flush-request
// item.
func RequestPK(db, table string) string { return manifestsPK(KindRequest, db, table) }

// StagedPK is the manifests-table partition key of a table's staged items
// (written by fanout, claimed by flush).
func StagedPK(db, table string) string { return manifestsPK(KindStaged, db, table) }

// ManifestPK is the manifests-table partition key of a table's manifests.
func ManifestPK(db, table string) string { return manifestsPK(KindManifest, db, table) }

// SealedPK is the manifests-table partition key of a table's sealed-hour
// markers.
func SealedPK(db, table string) string { return manifestsPK(KindSealed, db, table) }

// CompactPK is the manifests-table partition key of a table's lake hours
// waiting for compaction (sort key Partition.SealedSK, parsed with
// ParseSealedSK).
func CompactPK(db, table string) string { return manifestsPK(KindCompact, db, table) }

// LakePK is the manifests-table partition key of a table's lake
// maintenance items (sort key LakeExpirySK).
func LakePK(db, table string) string { return manifestsPK(KindLake, db, table) }

func manifestsPK(kind, db, table string) string { return kind + "#" + db + "." + table }

// ParseManifestsPK parses a manifests-table partition key.
func ParseManifestsPK(pk string) (kind, db, table string, err error) {
	kind, rest, ok := strings.Cut(pk, "#")
	db, table, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || (kind != KindStaged && kind != KindManifest && kind != KindSealed && kind != KindRequest && kind != KindCompact && kind != KindLake) {
		return "", "", "", fmt.Errorf("%w: %q is not a manifests-table partition key", ErrMalformed, clip(pk))
	}
	if err := errors.Join(names.Validate("database", db), names.Validate("table", table)); err != nil {
		return "", "", "", fmt.Errorf("%w: manifests-table partition key: %w", ErrMalformed, err)
	}
	return kind, db, table, nil
}

// SealedSK is the sort key of the partition's sealed-hour marker (under
// SealedPK): <YYYY-MM-DD>/<HH>.
func (p Partition) SealedSK() string { return p.DT() + "/" + p.HH() }

// ParseSealedSK parses a sealed-hour marker's sort key of db.table.
func ParseSealedSK(db, table, sk string) (Partition, error) {
	dt, hh, ok := strings.Cut(sk, "/")
	if !ok {
		return Partition{}, fmt.Errorf("%w: sealed sort key %q is not <date>/<hour>", ErrMalformed, clip(sk))
	}
	hour, err := parseHour(dt, hh)
	if err != nil {
		return Partition{}, fmt.Errorf("%w: sealed sort key: %v", ErrMalformed, err)
	}
	return Partition{DB: db, Table: table, Hour: hour}, nil
}

// NewManifestID returns a new manifest id (and manifests-table sort key):
// 128 random bits in hex. An id names one creation of a manifest and is
// never used again, even for a manifest of the same staged keys: a run
// holding a finished manifest's id can then only find it gone, never
// recreate or advance a later one.
func NewManifestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // since Go 1.24 it never returns an error
	return hex.EncodeToString(b[:])
}

// ParseManifestID checks a manifest id: 32 lower-case hex digits.
func ParseManifestID(id string) error {
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: manifest id %q is not 32 hex digits", ErrMalformed, clip(id))
	}
	return nil
}
