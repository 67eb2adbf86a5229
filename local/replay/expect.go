// Package replay owns `spillway-local replay`: running a user's forwarder
// configuration over their log files through the local pipeline, reading
// back what landed in every sink, checking it against an expectations file
// and reporting the outcome (text, JSON, JUnit XML).
package replay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Version is the only expectations file version this package reads.
const Version = 1

// Expectations is an expectations file (YAML, decoded strictly). See
// docs/REPLAY_IN_CI.md for the format.
type Expectations struct {
	// Version must be 1.
	Version int `yaml:"version"`
	// Tables holds the expectations of each table, keyed "<db>.<table>".
	// A table not listed here is reported but not checked.
	Tables map[string]TableExpectations `yaml:"tables"`
	// AllowQuarantine accepts objects under quarantine/ (default: any new
	// quarantined object fails the replay).
	AllowQuarantine bool `yaml:"allow_quarantine,omitempty"`
	// AllowFailed accepts objects under failed/ (TD imports refused for
	// good; default: any new one fails the replay).
	AllowFailed bool `yaml:"allow_failed,omitempty"`
	// AllowUnexpectedTables accepts data in tables not listed in Tables
	// (default: a table that received data but has no expectations fails).
	AllowUnexpectedTables bool `yaml:"allow_unexpected_tables,omitempty"`
}

// TableExpectations are the checks of one table. Every field is optional;
// an empty entry only requires that the table received data.
type TableExpectations struct {
	// Count is the exact number of records (catalog, sealed objects and
	// the TD endpoint must all hold it). Exclusive with MinCount/MaxCount.
	Count *int64 `yaml:"count,omitempty"`
	// MinCount and MaxCount bound the number of records.
	MinCount *int64 `yaml:"min_count,omitempty"`
	MaxCount *int64 `yaml:"max_count,omitempty"`
	// Time bounds the time of every parsed record (RFC 3339, inclusive);
	// unmatched lines carry their read time and are left to
	// MaxUnmatchedRatio.
	Time *TimeRange `yaml:"time,omitempty"`
	// Columns are required columns: each must occur in at least one record.
	Columns map[string]ColumnExpectations `yaml:"columns,omitempty"`
	// MaxUnmatchedRatio bounds the fraction of records that are unparsed
	// lines (records holding the parser's unmatched_line key), 0..1.
	MaxUnmatchedRatio *float64 `yaml:"max_unmatched_ratio,omitempty"`
	// Freshness bounds the time from the start of the replay until the
	// table's records were all in the sealed objects and the TD endpoint.
	Freshness *Duration `yaml:"freshness,omitempty"`
}

// TimeRange bounds record times; either end may be omitted.
type TimeRange struct {
	Min *time.Time `yaml:"min,omitempty"`
	Max *time.Time `yaml:"max,omitempty"`
}

// ColumnExpectations are the checks of one column.
type ColumnExpectations struct {
	// Type, when set, is the type every non-null value must have: string,
	// integer, float, number (integer or float), boolean, binary, map or
	// array.
	Type string `yaml:"type,omitempty"`
	// NonNull, when set, is the minimum fraction (0..1) of records where
	// the column is present and not null.
	NonNull *float64 `yaml:"non_null,omitempty"`
}

// ColumnTypes are the values ColumnExpectations.Type accepts.
var ColumnTypes = []string{"string", "integer", "float", "number", "boolean", "binary", "map", "array"}

// Duration is a time.Duration written as Go duration text ("90s", "2m").
type Duration time.Duration

// UnmarshalYAML decodes Go duration text.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration: %w", n.Line, err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML encodes Go duration text.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON encodes Go duration text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// LoadExpectations reads, decodes strictly and validates an expectations
// file.
func LoadExpectations(path string) (Expectations, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Expectations{}, fmt.Errorf("read expectations: %w", err)
	}
	e, err := ParseExpectations(data)
	if err != nil {
		return Expectations{}, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}

// ParseExpectations decodes data strictly (unknown keys are errors) and
// validates it.
func ParseExpectations(data []byte) (Expectations, error) {
	var e Expectations
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&e); err != nil {
		if errors.Is(err, io.EOF) {
			return Expectations{}, errors.New("decode expectations: empty file")
		}
		return Expectations{}, fmt.Errorf("decode expectations: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Expectations{}, err
	}
	return e, nil
}

// Validate reports every problem at once, each prefixed with its field path.
func (e Expectations) Validate() error {
	var errs []error
	if e.Version != Version {
		errs = append(errs, fmt.Errorf("version: %d, want %d", e.Version, Version))
	}
	if len(e.Tables) == 0 {
		errs = append(errs, errors.New("tables: at least one table is required"))
	}
	for _, name := range sortedKeys(e.Tables) {
		p := "tables." + name
		db, table, ok := strings.Cut(name, ".")
		if !ok || db == "" || table == "" || strings.Contains(table, ".") {
			errs = append(errs, fmt.Errorf("%s: name must be <db>.<table>", p))
		}
		errs = append(errs, e.Tables[name].validate(p)...)
	}
	return errors.Join(errs...)
}

func (t TableExpectations) validate(p string) []error {
	var errs []error
	neg := func(field string, v *int64) {
		if v != nil && *v < 0 {
			errs = append(errs, fmt.Errorf("%s.%s: %d is negative", p, field, *v))
		}
	}
	neg("count", t.Count)
	neg("min_count", t.MinCount)
	neg("max_count", t.MaxCount)
	if t.Count != nil && (t.MinCount != nil || t.MaxCount != nil) {
		errs = append(errs, fmt.Errorf("%s: count is exclusive with min_count/max_count", p))
	}
	if t.MinCount != nil && t.MaxCount != nil && *t.MinCount > *t.MaxCount {
		errs = append(errs, fmt.Errorf("%s: min_count %d > max_count %d", p, *t.MinCount, *t.MaxCount))
	}
	if t.Time != nil {
		if t.Time.Min == nil && t.Time.Max == nil {
			errs = append(errs, fmt.Errorf("%s.time: set min, max or both", p))
		}
		if t.Time.Min != nil && t.Time.Max != nil && t.Time.Min.After(*t.Time.Max) {
			errs = append(errs, fmt.Errorf("%s.time: min %s is after max %s", p, t.Time.Min.Format(time.RFC3339), t.Time.Max.Format(time.RFC3339)))
		}
	}
	errs = append(errs, fraction(p+".max_unmatched_ratio", t.MaxUnmatchedRatio)...)
	if t.Freshness != nil && *t.Freshness <= 0 {
		errs = append(errs, fmt.Errorf("%s.freshness: must be positive", p))
	}
	for _, col := range sortedKeys(t.Columns) {
		c := t.Columns[col]
		cp := p + ".columns." + col
		if col == "" {
			errs = append(errs, fmt.Errorf("%s: empty column name", cp))
		}
		if c.Type != "" && !knownType(c.Type) {
			errs = append(errs, fmt.Errorf("%s.type: %q is not one of %s", cp, c.Type, strings.Join(ColumnTypes, ", ")))
		}
		errs = append(errs, fraction(cp+".non_null", c.NonNull)...)
	}
	return errs
}

func fraction(p string, v *float64) []error {
	if v != nil && (math.IsNaN(*v) || *v < 0 || *v > 1) {
		return []error{fmt.Errorf("%s: %v is not a fraction in [0, 1]", p, *v)}
	}
	return nil
}

func knownType(t string) bool {
	for _, k := range ColumnTypes {
		if k == t {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
