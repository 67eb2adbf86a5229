// Package laketest reads a lake table back for tests and local checks: an
// iceberg-go scan of the table's current snapshot, rows turned back into TD
// records so they compare with what the other sinks hold.
package laketest

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spillwayhq/spillway/shared/lake"
)

// Records scans the current snapshot of lake table db.tbl (iceberg-go's
// reader, not lake.Current) and returns its rows as TD records: the long
// "td_time" becomes "time" (after checking that the timestamptz "time"
// holds the same instant), "_td_time" becomes "td_time" again, and null
// columns are left out (in the lake a missing key and a nil value are
// both null; compare with DropNulls of the source). awsCfg reaches the
// table's S3 data files.
func Records(ctx context.Context, awsCfg aws.Config, lk *lake.Lake, db, tbl string) ([]map[string]any, error) {
	ctx = utils.WithAwsConfig(ctx, &awsCfg)
	t, err := lk.Load(ctx, db, tbl)
	if err != nil {
		return nil, err
	}
	if t.CurrentSnapshot() == nil {
		return nil, nil
	}
	at, err := t.Scan().ToArrowTable(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan %s.%s: %w", db, tbl, err)
	}
	defer at.Release()
	tr := array.NewTableReader(at, 4096)
	defer tr.Release()
	var out []map[string]any
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			r, err := row(rec, i)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", db, tbl, err)
			}
			out = append(out, r)
		}
	}
	if err := tr.Err(); err != nil {
		return nil, fmt.Errorf("read %s.%s: %w", db, tbl, err)
	}
	return out, nil
}

// row turns row i of rec into a TD record.
func row(rec arrow.RecordBatch, i int) (map[string]any, error) {
	r := map[string]any{}
	var ts *int64
	for c, f := range rec.Schema().Fields() {
		col := rec.Column(c)
		if col.IsNull(i) {
			continue
		}
		name := f.Name
		switch name {
		case lake.TDTimeColumn:
			name = "time"
		case "_" + lake.TDTimeColumn:
			name = lake.TDTimeColumn
		}
		if a, ok := col.(*array.Timestamp); ok {
			if f.Name != lake.TimeColumn {
				return nil, fmt.Errorf("unexpected timestamp column %s", f.Name)
			}
			v := int64(a.Value(i))
			ts = &v
			continue
		}
		switch v := col.GetOneForMarshal(i).(type) {
		case int64, float64, bool, string, []byte:
			r[name] = v
		default:
			return nil, fmt.Errorf("column %s: unexpected arrow type %s", f.Name, f.Type)
		}
	}
	tdTime, ok := r["time"].(int64)
	if !ok {
		return nil, errors.New("row without td_time")
	}
	if ts != nil && *ts != tdTime*1_000_000 {
		return nil, fmt.Errorf("row time %d us does not match td_time %d s", *ts, tdTime)
	}
	return r, nil
}

// DropNulls returns r without its nil values (the lake stores both a nil
// value and a missing key as null).
func DropNulls(r map[string]any) map[string]any {
	out := make(map[string]any, len(r))
	for k, v := range r {
		if v != nil {
			out[k] = v
		}
	}
	return out
}
