package lake_test

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/apache/iceberg-go"

	"github.com/spillwayhq/spillway/shared/lake"
)

func TestSchemaDrift(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	db := uniqueDB()
	tm := hourBase
	type step struct {
		records   []map[string]any
		conflicts []lake.Conflict
	}
	tests := []struct {
		name      string
		steps     []step
		want      []map[string]any
		wantTypes map[string]iceberg.Type
	}{
		{
			name: "new column in a later append",
			steps: []step{
				{records: []map[string]any{{"time": tm, "a": int64(1)}}},
				{records: []map[string]any{{"time": tm, "a": int64(2), "b": "x"}}},
			},
			want:      []map[string]any{{"td_time": tm, "a": int64(1)}, {"td_time": tm, "a": int64(2), "b": "x"}},
			wantTypes: map[string]iceberg.Type{"a": iceberg.PrimitiveTypes.Int64, "b": iceberg.PrimitiveTypes.String},
		},
		{
			name: "conflicting types in one append become string",
			steps: []step{{
				records:   []map[string]any{{"time": tm, "c": int64(1)}, {"time": tm, "c": "x"}, {"time": tm, "c": true}, {"time": tm, "c": 2.5}},
				conflicts: []lake.Conflict{{Column: "c", Seen: []string{"long", "double", "boolean", "string"}, StoredIn: "c"}},
			}},
			want: []map[string]any{
				{"td_time": tm, "c": "1"}, {"td_time": tm, "c": "x"}, {"td_time": tm, "c": "true"}, {"td_time": tm, "c": "2.5"},
			},
			wantTypes: map[string]iceberg.Type{"c": iceberg.PrimitiveTypes.String},
		},
		{
			name: "string into a long column goes to its __string column",
			steps: []step{
				{records: []map[string]any{{"time": tm, "d": int64(1)}}},
				{
					records:   []map[string]any{{"time": tm, "d": "x"}, {"time": tm, "d": int64(2)}},
					conflicts: []lake.Conflict{{Column: "d", Table: "long", Seen: []string{"long", "string"}, StoredIn: "d__string"}},
				},
			},
			want: []map[string]any{{"td_time": tm, "d": int64(1)}, {"td_time": tm, "d__string": "x"}, {"td_time": tm, "d": int64(2)}},
			wantTypes: map[string]iceberg.Type{
				"d": iceberg.PrimitiveTypes.Int64, "d__string": iceberg.PrimitiveTypes.String,
			},
		},
		{
			name: "long into a double column is widened when exact",
			steps: []step{
				{records: []map[string]any{{"time": tm, "e": 1.5}}},
				{
					records:   []map[string]any{{"time": tm, "e": int64(2)}, {"time": tm, "e": int64(1)<<60 + 1}},
					conflicts: []lake.Conflict{{Column: "e", Table: "double", Seen: []string{"long"}, StoredIn: "e__string"}},
				},
			},
			want: []map[string]any{
				{"td_time": tm, "e": 1.5}, {"td_time": tm, "e": 2.0}, {"td_time": tm, "e__string": strconv.FormatInt(1<<60+1, 10)},
			},
			wantTypes: map[string]iceberg.Type{"e": iceberg.PrimitiveTypes.Float64, "e__string": iceberg.PrimitiveTypes.String},
		},
		{
			name: "anything into a string column as text",
			steps: []step{
				{records: []map[string]any{{"time": tm, "f": "a"}}},
				{
					records:   []map[string]any{{"time": tm, "f": int64(3)}, {"time": tm, "f": map[string]any{"z": int64(1)}}},
					conflicts: []lake.Conflict{{Column: "f", Table: "string", Seen: []string{"long", "string"}, StoredIn: "f"}},
				},
			},
			want:      []map[string]any{{"td_time": tm, "f": "a"}, {"td_time": tm, "f": "3"}, {"td_time": tm, "f": `{"z":1}`}},
			wantTypes: map[string]iceberg.Type{"f": iceberg.PrimitiveTypes.String},
		},
		{
			name: "a record's own td_time and null-only columns",
			steps: []step{
				{records: []map[string]any{{"time": tm, "td_time": "mine", "g": nil}}},
				{records: []map[string]any{{"time": tm, "g": int64(7)}}},
			},
			want:      []map[string]any{{"td_time": tm, "_td_time": "mine"}, {"td_time": tm, "g": int64(7)}},
			wantTypes: map[string]iceberg.Type{"_td_time": iceberg.PrimitiveTypes.String, "g": iceberg.PrimitiveTypes.Int64},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := "drift_" + strconv.Itoa(i)
			lk := r.lake(t, nil)
			for j, s := range tc.steps {
				res, err := lk.Append(ctx, db, tbl, "seal-"+strconv.Itoa(j), stream(t, s.records))
				if err != nil {
					t.Fatalf("step %d: %v", j, err)
				}
				if !slices.EqualFunc(res.Conflicts, s.conflicts, func(a, b lake.Conflict) bool {
					return a.Column == b.Column && a.Table == b.Table && a.StoredIn == b.StoredIn && slices.Equal(a.Seen, b.Seen)
				}) {
					t.Fatalf("step %d: conflicts %+v, want %+v", j, res.Conflicts, s.conflicts)
				}
			}
			diffRows(t, r.rows(t, db, tbl, 0), canon(tc.want))
			tb, err := lk.Load(ctx, db, tbl)
			if err != nil {
				t.Fatal(err)
			}
			for name, typ := range tc.wantTypes {
				f, ok := tb.Schema().FindFieldByName(name)
				if !ok || !f.Type.Equals(typ) {
					t.Errorf("column %s: %v (found %v), want %s", name, f.Type, ok, typ)
				}
			}
		})
	}
}
