package replay

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"gopkg.in/yaml.v3"
)

// Suggest derives a starting expectations file from what a replay observed:
// each table's exact count, its time range widened to whole hours, every
// column with its type (when all values agree) and its non-null fraction
// rounded down to two decimals, the unmatched-line ratio rounded up to
// three decimals, and a freshness bound of three times the observed one
// (at least one minute). The user edits it.
func Suggest(o Observation) Expectations {
	e := Expectations{Version: Version, Tables: map[string]TableExpectations{}}
	for name, t := range o.Tables {
		te := TableExpectations{Count: ptrTo(t.Catalog)}
		if t.MinTime != 0 || t.MaxTime != 0 {
			lo := time.Unix(t.MinTime, 0).UTC().Truncate(time.Hour)
			hi := time.Unix(t.MaxTime, 0).UTC().Truncate(time.Hour).Add(time.Hour)
			te.Time = &TimeRange{Min: &lo, Max: &hi}
		}
		te.MaxUnmatchedRatio = ptrTo(math.Ceil(ratio(t.Unmatched, int64(len(t.Records)))*1000) / 1000)
		if t.Settled > 0 {
			f := max(3*t.Settled, time.Minute).Round(time.Second)
			te.Freshness = ptrTo(Duration(f))
		}
		te.Columns = suggestColumns(t)
		e.Tables[name] = te
	}
	return e
}

func suggestColumns(t *TableObservation) map[string]ColumnExpectations {
	types := map[string]map[string]int{}
	nonNull := map[string]int{}
	for _, r := range t.Records {
		for k, v := range r {
			if k == "time" || k == "unmatched_line" {
				continue
			}
			if types[k] == nil {
				types[k] = map[string]int{}
			}
			if v != nil {
				types[k][typeOf(v)]++
				nonNull[k]++
			}
		}
	}
	out := map[string]ColumnExpectations{}
	for col, ts := range types {
		c := ColumnExpectations{NonNull: ptrTo(math.Floor(ratio(int64(nonNull[col]), int64(len(t.Records)))*100) / 100)}
		if len(ts) == 1 {
			for typ := range ts {
				c.Type = typ
			}
		} else if len(ts) == 2 && ts["integer"] > 0 && ts["float"] > 0 {
			c.Type = "number"
		}
		out[col] = c
	}
	return out
}

// MarshalExpectations encodes e as YAML with a header comment, tables and
// columns in name order.
func MarshalExpectations(e Expectations) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Spillway replay expectations (docs/REPLAY_IN_CI.md), written by\n")
	b.WriteString("# `spillway-local replay --write-expectations` from one run: edit the bounds.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode expectations: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode expectations: %w", err)
	}
	return b.Bytes(), nil
}

func ptrTo[T any](v T) *T { return &v }
