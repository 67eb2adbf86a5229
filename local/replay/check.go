package replay

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/spillwayhq/spillway/forwarder/parser"
	"github.com/spillwayhq/spillway/internal/tdtest"
)

// TableObservation is what one table received during a replay (deltas over
// what the cloud held before it).
type TableObservation struct {
	DB    string `json:"db"`
	Table string `json:"table"`
	// Catalog is the catalog's count, Sealed the records in new sealed S3
	// objects, TD the records the TD endpoint received.
	Catalog int64 `json:"catalog"`
	Sealed  int64 `json:"sealed"`
	TD      int64 `json:"td"`
	// MinTime and MaxTime are the extreme times (Unix seconds) of the
	// parsed records (unmatched lines carry their read time, not an event
	// time); of all records when none was parsed.
	MinTime int64 `json:"min_time"`
	MaxTime int64 `json:"max_time"`
	// Unmatched counts records holding parser.UnmatchedKey.
	Unmatched int64 `json:"unmatched"`
	// Settled is when (since the replay's start) every sink held Catalog
	// records; zero when it never did.
	Settled time.Duration `json:"settled_ns"`
	// Records are the records of the new sealed objects.
	Records []tdtest.Record `json:"-"`
}

// Name is "<db>.<table>".
func (t *TableObservation) Name() string { return t.DB + "." + t.Table }

// Observation is everything a replay read back.
type Observation struct {
	// Tables by "<db>.<table>".
	Tables map[string]*TableObservation `json:"tables"`
	// Quarantine and Failed are the new object keys under quarantine/ and
	// failed/.
	Quarantine []string `json:"quarantine"`
	Failed     []string `json:"failed"`
	// Forwarder is what the forwarder reported when drained.
	Forwarder ForwarderStats `json:"forwarder"`
	// NotSettled explains why the sinks did not settle; empty when they did.
	NotSettled string `json:"not_settled,omitempty"`
}

// Result is the outcome of one expectation.
type Result struct {
	// Name identifies the expectation, e.g. "web.access count".
	Name string `json:"name"`
	// Table is "<db>.<table>", empty for pipeline-wide checks.
	Table string `json:"table,omitempty"`
	// Passed is false when the expectation failed.
	Passed bool `json:"passed"`
	// Message says what was expected and what was observed.
	Message string `json:"message"`
	// Samples are a few offending records (JSON) or object keys.
	Samples []string `json:"samples,omitempty"`
}

// maxSamples bounds the offending records shown per failed expectation.
const maxSamples = 3

// Check evaluates every expectation against what was observed, in a stable
// order.
func Check(e Expectations, o Observation) []Result {
	var rs []Result
	add := func(r Result) { rs = append(rs, r) }
	if o.NotSettled != "" {
		add(Result{Name: "sinks settled", Message: o.NotSettled})
	} else {
		add(Result{Name: "sinks settled", Passed: true, Message: "catalog, sealed objects and TD endpoint agree for every table"})
	}
	r := Result{Name: "nothing in quarantine/", Passed: len(o.Quarantine) == 0 || e.AllowQuarantine,
		Message: fmt.Sprintf("%d new object(s) under quarantine/", len(o.Quarantine)), Samples: firstN(o.Quarantine)}
	if e.AllowQuarantine {
		r.Message += " (allowed)"
	}
	add(r)
	r = Result{Name: "nothing in failed/", Passed: len(o.Failed) == 0 || e.AllowFailed,
		Message: fmt.Sprintf("%d new object(s) under failed/", len(o.Failed)), Samples: firstN(o.Failed)}
	if e.AllowFailed {
		r.Message += " (allowed)"
	}
	add(r)
	for _, name := range sortedKeys(o.Tables) {
		if _, ok := e.Tables[name]; !ok {
			add(Result{Name: name + " expected", Table: name, Passed: e.AllowUnexpectedTables,
				Message: fmt.Sprintf("table received %d records but has no expectations", o.Tables[name].Catalog)})
		}
	}
	for _, name := range sortedKeys(e.Tables) {
		rs = append(rs, checkTable(name, e.Tables[name], o.Tables[name])...)
	}
	return rs
}

// Failed counts the failed results.
func Failed(rs []Result) int {
	n := 0
	for _, r := range rs {
		if !r.Passed {
			n++
		}
	}
	return n
}

func checkTable(name string, te TableExpectations, t *TableObservation) []Result {
	if t == nil || t.Catalog == 0 {
		return []Result{{Name: name + " received data", Table: name, Message: "no records landed in this table"}}
	}
	var rs []Result
	res := func(check string, ok bool, msg string, samples ...string) {
		rs = append(rs, Result{Name: name + " " + check, Table: name, Passed: ok, Message: msg, Samples: samples})
	}
	res("received data", true, fmt.Sprintf("%d records", t.Catalog))
	switch {
	case te.Count != nil:
		res("count", t.Catalog == *te.Count, fmt.Sprintf("want exactly %d records, catalog counts %d", *te.Count, t.Catalog))
	case te.MinCount != nil || te.MaxCount != nil:
		ok := (te.MinCount == nil || t.Catalog >= *te.MinCount) && (te.MaxCount == nil || t.Catalog <= *te.MaxCount)
		res("count", ok, fmt.Sprintf("want %s records, catalog counts %d", bounds(te.MinCount, te.MaxCount), t.Catalog))
	}
	if te.Time != nil {
		var bad []tdtest.Record
		nbad := 0
		parsed := 0
		for _, rec := range t.Records {
			if _, ok := rec[parser.UnmatchedKey]; ok {
				continue // stamped with the read time; max_unmatched_ratio bounds these
			}
			parsed++
			ts, _ := rec["time"].(int64)
			if (te.Time.Min != nil && ts < te.Time.Min.Unix()) || (te.Time.Max != nil && ts > te.Time.Max.Unix()) {
				nbad++
				if len(bad) < maxSamples {
					bad = append(bad, rec)
				}
			}
		}
		res("time range", nbad == 0, fmt.Sprintf("want times in %s, %d of %d parsed records outside (observed %s .. %s)",
			timeBounds(te.Time), nbad, parsed, unixText(t.MinTime), unixText(t.MaxTime)), samples(bad)...)
	}
	if te.MaxUnmatchedRatio != nil {
		ratio := ratio(t.Unmatched, int64(len(t.Records)))
		var bad []tdtest.Record
		for _, rec := range t.Records {
			if _, ok := rec[parser.UnmatchedKey]; ok && len(bad) < maxSamples {
				bad = append(bad, rec)
			}
		}
		msg := fmt.Sprintf("unmatched-line ratio %.4f (%d of %d records hold %q), want at most %g",
			ratio, t.Unmatched, len(t.Records), parser.UnmatchedKey, *te.MaxUnmatchedRatio)
		if ratio > *te.MaxUnmatchedRatio {
			msg += ": the parser did not match these lines; check the parse settings (expression, format) of the source tagged td." + name
		}
		res("unmatched lines", ratio <= *te.MaxUnmatchedRatio, msg, samples(bad)...)
	}
	if te.Freshness != nil {
		ok := t.Settled > 0 && t.Settled <= time.Duration(*te.Freshness)
		got := "never settled"
		if t.Settled > 0 {
			got = "settled after " + t.Settled.Round(time.Millisecond).String()
		}
		res("freshness", ok, fmt.Sprintf("want all records in every sink within %s of the start, %s", time.Duration(*te.Freshness), got))
	}
	for _, col := range sortedKeys(te.Columns) {
		rs = append(rs, checkColumn(name, col, te.Columns[col], t.Records)...)
	}
	return rs
}

func checkColumn(name, col string, ce ColumnExpectations, recs []tdtest.Record) []Result {
	present, nonNull, wrong := 0, 0, 0
	var bad, missing []tdtest.Record
	for _, rec := range recs {
		v, ok := rec[col]
		if ok {
			present++
		}
		if !ok || v == nil {
			if len(missing) < maxSamples {
				missing = append(missing, rec)
			}
			continue
		}
		nonNull++
		if ce.Type != "" && !typeMatches(ce.Type, v) {
			wrong++
			if len(bad) < maxSamples {
				bad = append(bad, rec)
			}
		}
	}
	p := name + " column " + col
	rs := []Result{{Name: p + " present", Table: name, Passed: present > 0,
		Message: fmt.Sprintf("column %q occurs in %d of %d records", col, present, len(recs))}}
	if ce.Type != "" {
		rs = append(rs, Result{Name: p + " type", Table: name, Passed: wrong == 0,
			Message: fmt.Sprintf("want every non-null %q to be %s, %d of %d are not", col, ce.Type, wrong, nonNull), Samples: samples(bad)})
	}
	if ce.NonNull != nil {
		f := ratio(int64(nonNull), int64(len(recs)))
		r := Result{Name: p + " non-null", Table: name, Passed: f >= *ce.NonNull,
			Message: fmt.Sprintf("want at least %g of records with a non-null %q, got %.4f (%d of %d)", *ce.NonNull, col, f, nonNull, len(recs))}
		if !r.Passed {
			r.Samples = samples(missing)
		}
		rs = append(rs, r)
	}
	return rs
}

// typeOf names a decoded msgpack value's type as ColumnTypes does.
func typeOf(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "integer"
	case float32, float64:
		return "float"
	case bool:
		return "boolean"
	case []byte:
		return "binary"
	case map[string]any, map[any]any:
		return "map"
	case []any:
		return "array"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func typeMatches(want string, v any) bool {
	got := typeOf(v)
	return got == want || (want == "number" && (got == "integer" || got == "float"))
}

func ratio(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(n) / float64(total)
}

func bounds(lo, hi *int64) string {
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf("%d..%d", *lo, *hi)
	case lo != nil:
		return fmt.Sprintf("at least %d", *lo)
	default:
		return fmt.Sprintf("at most %d", *hi)
	}
}

func timeBounds(r *TimeRange) string {
	lo, hi := "-inf", "+inf"
	if r.Min != nil {
		lo = r.Min.UTC().Format(time.RFC3339)
	}
	if r.Max != nil {
		hi = r.Max.UTC().Format(time.RFC3339)
	}
	return "[" + lo + ", " + hi + "]"
}

func unixText(s int64) string {
	if s == 0 {
		return "-"
	}
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}

// samples renders records as JSON lines, keys sorted, bin as base64.
func samples(recs []tdtest.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		b, err := json.Marshal(jsonable(map[string]any(r)))
		if err != nil {
			b = []byte(fmt.Sprint(r))
		}
		out = append(out, string(b))
	}
	return out
}

// jsonable turns map[any]any (msgpack maps with non-string keys) into
// something encoding/json accepts.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = jsonable(e)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = jsonable(e)
		}
		return a
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
	}
	return v
}

func firstN(keys []string) []string {
	if len(keys) > maxSamples {
		keys = keys[:maxSamples]
	}
	out := append([]string(nil), keys...)
	sort.Strings(out)
	return out
}
