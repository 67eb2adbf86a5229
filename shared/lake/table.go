package lake

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// Columns every Spillway table starts with.
const (
	// TimeColumn is the event time as timestamptz (UTC, microseconds), the
	// source of the hour partition.
	TimeColumn = "time"
	// TDTimeColumn is TD's integer "time", Unix seconds.
	TDTimeColumn = "td_time"
	// HourPartition names the hidden partition field hour(time).
	HourPartition = "time_hour"
)

// baseSchema is the schema a table is created with; data columns are added
// by the first append.
func baseSchema() *iceberg.Schema {
	return iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: TimeColumn, Type: iceberg.PrimitiveTypes.TimestampTz, Doc: "event time (UTC)"},
		iceberg.NestedField{ID: 2, Name: TDTimeColumn, Type: iceberg.PrimitiveTypes.Int64, Doc: "TD time: Unix seconds"},
	)
}

// tableProperties are set on every table the Lake creates.
func (l *Lake) tableProperties() iceberg.Properties {
	return iceberg.Properties{
		table.ParquetCompressionKey:       "zstd",
		table.WriteTargetFileSizeBytesKey: strconv.FormatInt(l.cfg.TargetFileBytes, 10),
		// Append and Compact retry conflicts themselves, re-checking the
		// seal id first; iceberg-go's replay would skip that check.
		table.CommitNumRetriesKey:   "0",
		table.PropertyFormatVersion: "2",
		// Every commit writes a metadata file: delete those that fell out
		// of the metadata log (write.metadata.previous-versions-max, 100)
		// at once instead of leaving them to RemoveOrphans.
		table.MetadataDeleteAfterCommitEnabledKey: "true",
		// Each append writes one manifest that every later snapshot
		// lists, and planning a scan reads them all: merge them on append
		// (iceberg-go's merge append, Java's MergeAppend), with Iceberg's
		// defaults (commit.manifest.min-count-to-merge 100,
		// commit.manifest.target-size-bytes 8 MiB). Measured in
		// BENCHMARKS.md, "Manifest growth".
		table.ManifestMergeEnabledKey: "true",
	}
}

// upgradeProperties are the properties Append adds, in its commit, to a
// table that lacks them (created by an older release); a value a table
// has, set by an operator say, is kept.
var upgradeProperties = []string{table.ManifestMergeEnabledKey}

// loadOrCreate loads db.tbl, creating its namespace and the table (base
// schema, hour(time) partitioning, format v2) on first use. A racing
// creator is not an error.
func (l *Lake) loadOrCreate(ctx context.Context, id table.Identifier) (*table.Table, error) {
	t, err := l.cat.LoadTable(ctx, id)
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, fmt.Errorf("load table %s.%s: %w", id[0], id[1], err)
	}
	if err := l.cat.CreateNamespace(ctx, id[:1], iceberg.Properties{"comment": "Spillway database " + id[0]}); err != nil &&
		!errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return nil, fmt.Errorf("create namespace %s: %w", id[0], err)
	}
	spec := iceberg.NewPartitionSpec(iceberg.PartitionField{
		SourceIDs: []int{1}, FieldID: 1000, Name: HourPartition, Transform: iceberg.HourTransform{},
	})
	_, err = l.cat.CreateTable(ctx, id, baseSchema(),
		catalog.WithLocation(l.cfg.tableLocation(id[0], id[1])),
		catalog.WithPartitionSpec(&spec),
		catalog.WithProperties(l.tableProperties()))
	switch {
	case err == nil:
		l.log.Info("lake table created", "db", id[0], "table", id[1], "location", l.cfg.tableLocation(id[0], id[1]))
	case errors.Is(err, catalog.ErrTableAlreadyExists):
	default:
		return nil, fmt.Errorf("create table %s.%s: %w", id[0], id[1], err)
	}
	t, err = l.cat.LoadTable(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load table %s.%s after create: %w", id[0], id[1], err)
	}
	return t, nil
}
