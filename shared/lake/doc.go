// Package lake owns Spillway's Apache Iceberg tables: every Spillway table
// db.table is the Iceberg table <db>.<table> in the Glue Data Catalog (one
// Glue database per Spillway database), with Parquet (zstd) data files under
// Config.Warehouse. The flush path calls Append once per seal; a compaction
// job calls Compact once per hour.
//
// By concern:
//
//   - lake.go: Lake, New, and the catalog interface it needs.
//   - table.go: table creation on first use (namespace, schema, hour
//     partitioning, format v2, properties).
//   - columns.go: column types inferred from msgpack values, and the
//     schema evolution plan against a table's current schema.
//   - arrow.go: records -> one Arrow record batch in the table's schema.
//   - append.go: Append, exactly once per seal id.
//   - compact.go: Compact, one hour's small files into target-size files,
//     in groups of at most Config.CompactMaxRows rows, one commit each,
//     stopping between two commits when its caller says so.
//   - read.go: Current, the data files of the current snapshot (readers).
//   - maintain.go: Seals, Expire (snapshot expiry) and RemoveOrphans
//     (unreferenced files older than a safety age).
//   - retry.go: the commit-conflict loop shared by Append and Compact.
//
// # Exactly once
//
// Append writes the seal id into the snapshot summary (SummarySealID) of
// the one commit it makes. Before writing, and again after every commit
// conflict, it reloads the table and looks for that id among the snapshots
// of the main branch: found means the seal is already in the table and
// Append returns without writing. The check and the commit are tied by the
// catalog's optimistic concurrency (Glue's UpdateTable VersionId, surfaced
// as ConcurrentModificationException), so two writers of one seal cannot
// both commit: the loser reloads, finds the id, and stops. iceberg-go's own
// commit retry (commit.retry.num-retries) re-applies a snapshot without
// that check, so tables are created with it set to 0 and Append retries
// itself. Expire removes seal ids with their snapshots, so its caller
// chooses a cutoff older than every seal a writer may still append again
// (flush: the seals its live manifests have not marked, observed a run's
// lifetime before the expiry); Expire never removes a snapshot committed
// at or after the cutoff it is given.
//
// # Columns
//
// The msgpack type of each top-level value (tdrecord.ColumnType) maps to an
// Iceberg type: integers -> long, floats -> double, booleans -> boolean,
// strings -> string, binary -> binary, maps and arrays -> string holding
// their JSON. Columns are optional; a record without a column has null.
//
// "time" (TD's integer Unix seconds) is stored twice: as the timestamptz
// column "time" (microseconds, UTC), the source of the hidden partition
// hour(time), so Athena, Trino and Spark filter on
// time >= TIMESTAMP '...' and prune hours; and as the long column
// "td_time", TD's integer, so TD_TIME_RANGE-style filters and exact
// round trips keep working. A record key named "td_time" is stored as
// "_td_time". A time whose microseconds overflow int64 (beyond year
// 294,000) gets a null "time" and is reported; its "td_time" is kept.
//
// New columns are added by Iceberg schema evolution in the same commit as
// the data. A column whose values in one call have conflicting types is
// created as string (TD's behaviour: every value in its text form) and
// reported. A value whose type conflicts with an existing column's type is
// stored in the existing column when it converts without loss (a long in a
// double column; anything in a string column, as text); otherwise it goes
// to the string column "<name>__string" (created on first use) and is
// reported, because Iceberg cannot change a long into a string in place
// without rewriting every data file (readers of old files would break).
package lake
