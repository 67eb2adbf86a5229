package lake

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
)

func TestConvert(t *testing.T) {
	tests := []struct {
		v    any
		k    kind
		want any
		ok   bool
	}{
		{int8(-3), kindLong, int64(-3), true},
		{uint64(math.MaxInt64), kindLong, int64(math.MaxInt64), true},
		{uint64(math.MaxInt64 + 1), kindLong, nil, false},
		{uint64(math.MaxInt64 + 1), kindString, "9223372036854775808", true},
		{float32(1.5), kindDouble, 1.5, true},
		{int64(1) << 53, kindDouble, float64(1 << 53), true},
		{int64(1)<<53 + 1, kindDouble, nil, false},
		{"x", kindLong, nil, false},
		{true, kindString, "true", true},
		{[]byte("hi"), kindString, "hi", true},
		{[]byte{0xff}, kindString, "/w==", true},
		{[]byte{0xff}, kindBinary, []byte{0xff}, true},
		{map[string]any{"b": []any{int8(1), nil}, "a": []byte{0xff}}, kindString, `{"a":"/w==","b":[1,null]}`, true},
		{[]any{math.Inf(1)}, kindString, `["+Inf"]`, true},
		{2.5, kindString, "2.5", true},
		{2.5, kindLong, nil, false},
		{true, kindDouble, nil, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%T %v as %s", tc.v, tc.v, tc.k), func(t *testing.T) {
			got, ok := convert(tc.v, tc.k)
			if ok != tc.ok || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("convert = %v (%T), %v; want %v, %v", got, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestPlanSchema(t *testing.T) {
	existing := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: TimeColumn, Type: iceberg.PrimitiveTypes.TimestampTz},
		iceberg.NestedField{ID: 2, Name: TDTimeColumn, Type: iceberg.PrimitiveTypes.Int64},
		iceberg.NestedField{ID: 3, Name: "n", Type: iceberg.PrimitiveTypes.Int64},
		iceberg.NestedField{ID: 4, Name: "s", Type: iceberg.PrimitiveTypes.String},
	)
	tests := []struct {
		name      string
		records   []map[string]any
		adds      []addColumn
		conflicts []string // Column->StoredIn
	}{
		{"nothing new", []map[string]any{{"time": 1, "n": int8(1), "s": "a"}}, nil, nil},
		{"new columns sorted", []map[string]any{{"time": 1, "z": 1.5, "b": true, "m": []any{}}},
			[]addColumn{{"b", kindBool}, {"m", kindString}, {"z", kindDouble}}, nil},
		{"mixed new column", []map[string]any{{"time": 1, "c": 1}, {"time": 1, "c": "x"}},
			[]addColumn{{"c", kindString}}, []string{"c->c"}},
		{"misfit existing", []map[string]any{{"time": 1, "n": "x"}},
			[]addColumn{{"n__string", kindString}}, []string{"n->n__string"}},
		{"into string column", []map[string]any{{"time": 1, "s": 3}}, nil, []string{"s->s"}},
		{"td_time renamed", []map[string]any{{"time": 1, "td_time": 5}}, []addColumn{{"_td_time", kindLong}}, nil},
		{"nulls only", []map[string]any{{"time": 1, "q": nil}}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := planSchema(existing, tc.records)
			if !slices.Equal(p.adds, tc.adds) {
				t.Fatalf("adds = %v, want %v", p.adds, tc.adds)
			}
			var got []string
			for _, c := range p.conflicts {
				got = append(got, c.Column+"->"+c.StoredIn)
			}
			if !slices.Equal(got, tc.conflicts) {
				t.Fatalf("conflicts = %v, want %v", got, tc.conflicts)
			}
		})
	}
}

func TestIsConflict(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("commit: %w", table.ErrCommitFailed), true},
		{table.ErrCommitDiverged, true},
		{errors.New(`requirement failed: branch "main" has changed: expected id 1, found 2`), true},
		{errors.New(`requirement failed: branch "main" was created concurrently`), true},
		{errors.New("Requirement failed: current schema id has changed: expected 0, found 1"), true},
		{errors.New("access denied"), false},
		{nil, false},
	}
	for _, tc := range tests {
		if got := isConflict(tc.err); got != tc.want {
			t.Errorf("isConflict(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		errs int
	}{
		{"ok", Config{Warehouse: "s3://b/lake"}, 0},
		{"read-only needs no warehouse", Config{ReadOnly: true}, 0},
		{"ok endpoint", Config{Warehouse: "s3://b", S3Endpoint: "http://127.0.0.1:4566"}, 0},
		{"everything wrong", Config{Warehouse: "/tmp/x", S3Endpoint: "ftp://x", MaxAttempts: -1, TargetFileBytes: -1}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			n := 0
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				n = len(j.Unwrap())
			} else if err != nil {
				n = 1
			}
			if n != tc.errs {
				t.Fatalf("Validate() = %v, want %d problems", err, tc.errs)
			}
		})
	}
}
