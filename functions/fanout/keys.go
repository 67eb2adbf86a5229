package fanout

import (
	"fmt"
	"net/url"
	"time"
)

// Key prefixes of the S3 layout (docs/ARCHITECTURE.md).
const (
	PrefixStaged     = "staged/"
	PrefixLate       = "late/"
	PrefixQuarantine = "quarantine/"
)

// Partition is one UTC hour of one table.
type Partition struct {
	DB, Table string
	Hour      int64 // Unix seconds of the hour's start
}

// PartitionOf returns the partition of an event time.
func PartitionOf(db, table string, t int64) Partition {
	h := t - ((t%3600)+3600)%3600
	return Partition{DB: db, Table: table, Hour: h}
}

// DT is the partition's date, YYYY-MM-DD.
func (p Partition) DT() string { return time.Unix(p.Hour, 0).UTC().Format("2006-01-02") }

// HH is the partition's hour, 00-23.
func (p Partition) HH() string { return time.Unix(p.Hour, 0).UTC().Format("15") }

// Path is db=<db>/table=<table>/dt=<dt>/hour=<HH>.
func (p Partition) Path() string {
	return fmt.Sprintf("db=%s/table=%s/dt=%s/hour=%s", p.DB, p.Table, p.DT(), p.HH())
}

// SealedSK is the sort key of the partition's sealed marker in the manifests table.
func (p Partition) SealedSK() string { return p.DT() + "/" + p.HH() }

// StagedKey is the deterministic staged (or late) object key of one part's
// events in partition p.
func StagedKey(late bool, p Partition, partID string) string {
	prefix := PrefixStaged
	if late {
		prefix = PrefixLate
	}
	return prefix + p.Path() + "/" + partID + ".msgpack.gz"
}

// StagedPK is the manifests-table partition key of a table's staged items.
func StagedPK(db, table string) string { return "staged#" + db + "." + table }

// SealedPK is the manifests-table partition key of a table's sealed-hour markers.
func SealedPK(db, table string) string { return "sealed#" + db + "." + table }

// QuarantineRecordKey is where an undecodable record goes, keyed by its
// Kinesis coordinates.
func QuarantineRecordKey(shardID, seq string) string {
	return PrefixQuarantine + "records/shard=" + url.PathEscape(shardID) + "/" + url.PathEscape(seq) + ".json"
}

// QuarantineFutureKey is where the far-future events of one part go.
func QuarantineFutureKey(p Partition, partID string) string {
	return PrefixQuarantine + "future/" + p.Path() + "/" + partID + ".msgpack.gz"
}
