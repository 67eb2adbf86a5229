package lake

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// batch is the Arrow form of one append's records.
type batch struct {
	rec          arrow.RecordBatch
	timeOverflow int // records whose time does not fit timestamptz
}

// toArrow converts records into one record batch in schema sc, whose data
// columns have the kinds of p (after its adds). The caller releases rec.
func toArrow(sc *iceberg.Schema, p schemaPlan, records []map[string]any) (batch, error) {
	asc, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		return batch{}, fmt.Errorf("arrow schema: %w", err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, asc)
	defer b.Release()
	pos := make(map[string]int, asc.NumFields())
	for i, f := range asc.Fields() {
		pos[f.Name] = i
	}
	row := make([]any, asc.NumFields())
	var out batch
	for ri, r := range records {
		clear(row)
		t, err := tdrecord.Seconds(r[TimeColumn])
		if err != nil {
			return batch{}, fmt.Errorf("record %d: %w", ri, err)
		}
		row[pos[TDTimeColumn]] = t
		if t > math.MaxInt64/1_000_000 || t < math.MinInt64/1_000_000 {
			out.timeOverflow++
		} else {
			row[pos[TimeColumn]] = arrow.Timestamp(t * 1_000_000)
		}
		for key, v := range r {
			if key == TimeColumn || v == nil {
				continue
			}
			col := columnKey(key)
			cv, ok := convert(v, p.kinds[col])
			if !ok {
				col += StringSuffix
				if cv, ok = convert(v, p.kinds[col]); !ok {
					return batch{}, fmt.Errorf("record %d: column %q: a %s value fits neither %q nor %q", ri, key, kindOf(v), columnKey(key), col)
				}
			}
			i, ok := pos[col]
			if !ok {
				return batch{}, fmt.Errorf("record %d: column %q is not in the table schema", ri, col)
			}
			row[i] = cv
		}
		for i, v := range row {
			if err := appendValue(b.Field(i), v); err != nil {
				return batch{}, fmt.Errorf("record %d, column %q: %w", ri, asc.Field(i).Name, err)
			}
		}
	}
	out.rec = b.NewRecordBatch()
	return out, nil
}

// appendValue appends v (nil, int64, float64, bool, string, []byte or
// arrow.Timestamp) to a builder of the matching type.
func appendValue(fb array.Builder, v any) error {
	if v == nil {
		fb.AppendNull()
		return nil
	}
	switch fb := fb.(type) {
	case *array.TimestampBuilder:
		if x, ok := v.(arrow.Timestamp); ok {
			fb.Append(x)
			return nil
		}
	case *array.Int64Builder:
		if x, ok := v.(int64); ok {
			fb.Append(x)
			return nil
		}
	case *array.Float64Builder:
		if x, ok := v.(float64); ok {
			fb.Append(x)
			return nil
		}
	case *array.BooleanBuilder:
		if x, ok := v.(bool); ok {
			fb.Append(x)
			return nil
		}
	case *array.StringBuilder:
		if x, ok := v.(string); ok {
			fb.Append(x)
			return nil
		}
	case *array.BinaryBuilder:
		if x, ok := v.([]byte); ok {
			fb.Append(x)
			return nil
		}
	}
	return fmt.Errorf("cannot store %T in a %s column", v, fb.Type())
}
