package lake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/apache/iceberg-go"
)

// kind is the Iceberg type family a msgpack value is stored as.
type kind uint8

const (
	kindNone kind = iota // nil: fits any column
	kindLong
	kindDouble
	kindBool
	kindString // strings, and maps and arrays as JSON
	kindBinary
)

var kindNames = [...]string{"null", "long", "double", "boolean", "string", "binary"}

func (k kind) String() string { return kindNames[k] }

// icebergType is the column type of k.
func (k kind) icebergType() iceberg.Type {
	switch k {
	case kindLong:
		return iceberg.PrimitiveTypes.Int64
	case kindDouble:
		return iceberg.PrimitiveTypes.Float64
	case kindBool:
		return iceberg.PrimitiveTypes.Bool
	case kindBinary:
		return iceberg.PrimitiveTypes.Binary
	}
	return iceberg.PrimitiveTypes.String
}

// kindOfType is the kind of an existing column's type; false for types this
// package does not write (a column someone else added).
func kindOfType(t iceberg.Type) (kind, bool) {
	switch t.(type) {
	case iceberg.Int64Type, iceberg.Int32Type:
		return kindLong, true
	case iceberg.Float64Type, iceberg.Float32Type:
		return kindDouble, true
	case iceberg.BooleanType:
		return kindBool, true
	case iceberg.StringType:
		return kindString, true
	case iceberg.BinaryType:
		return kindBinary, true
	}
	return kindNone, false
}

// kindOf returns the kind of a value decoded by tdrecord.Decode. A uint64
// over 2^63-1 does not fit a long and is a string (its decimal text).
func kindOf(v any) kind {
	switch x := v.(type) {
	case nil:
		return kindNone
	case int8, int16, int32, int64, int, uint8, uint16, uint32:
		return kindLong
	case uint64:
		if x > math.MaxInt64 {
			return kindString
		}
		return kindLong
	case float32, float64:
		return kindDouble
	case bool:
		return kindBool
	case []byte:
		return kindBinary
	}
	return kindString // string, maps, arrays
}

// fits reports whether v can be stored in a column of kind k without loss:
// its own kind, anything in a string column (as text), and a long that a
// double represents exactly.
func fits(v any, k kind) bool {
	vk := kindOf(v)
	switch {
	case vk == k || k == kindString:
		return true
	case k == kindDouble && vk == kindLong:
		n := toInt64(v)
		f := float64(n)
		return f >= -(1<<63) && f < 1<<63 && int64(f) == n
	}
	return false
}

// convert returns v as a Go value of column kind k (int64, float64, bool,
// string or []byte), and false when it does not fit (see fits).
func convert(v any, k kind) (any, bool) {
	if !fits(v, k) {
		return nil, false
	}
	switch k {
	case kindLong:
		return toInt64(v), true
	case kindDouble:
		switch x := v.(type) {
		case float32:
			return float64(x), true
		case float64:
			return x, true
		}
		return float64(toInt64(v)), true
	case kindString:
		return text(v), true
	}
	return v, true
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case int:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x) // callers checked the range
	}
	return 0
}

// text is the string form of a value in a string column: strings as they
// are, numbers and booleans as their literals, binary as text when it is
// UTF-8 (else base64), maps and arrays as JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return base64.StdEncoding.EncodeToString(x)
	case bool:
		return strconv.FormatBool(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int8, int16, int32, int64, int, uint8, uint16, uint32:
		return strconv.FormatInt(toInt64(v), 10)
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// jsonable turns decoded msgpack into values encoding/json accepts: binary
// as text (see text), non-finite floats as their names.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonable(e)
		}
		return out
	case []byte:
		return text(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return strconv.FormatFloat(float64(x), 'g', -1, 32)
		}
	}
	return v
}

// Conflict reports a column whose values had more than one type.
type Conflict struct {
	// Column is the record key.
	Column string
	// Table has the column's type in the table ("" when the column is new).
	Table string
	// Seen lists the value types of this call, sorted.
	Seen []string
	// StoredIn is the column the conflicting values went to: Column itself
	// when it is (or was created as) string, else Column + StringSuffix.
	StoredIn string
}

// StringSuffix names the string column that takes values an existing typed
// column cannot hold.
const StringSuffix = "__string"

// renamedTDTime is where a record's own "td_time" key goes.
const renamedTDTime = "_td_time"

// columnKey is the column a record key is stored under (before conflicts).
func columnKey(k string) string {
	if k == TDTimeColumn {
		return renamedTDTime
	}
	return k
}

// schemaPlan is what one append adds to the table's schema.
type schemaPlan struct {
	adds      []addColumn       // sorted by name
	kinds     map[string]kind   // every data column's kind, after adds
	conflicts []Conflict        // sorted by column
	seen      map[string][]kind // key -> kinds of this call
}

type addColumn struct {
	name string
	kind kind
}

// planSchema compares the records' values with the table schema sc and
// decides the columns to add and the conflicts to report.
func planSchema(sc *iceberg.Schema, records []map[string]any) schemaPlan {
	p := schemaPlan{kinds: map[string]kind{}, seen: map[string][]kind{}}
	for _, f := range sc.Fields() {
		if k, ok := kindOfType(f.Type); ok {
			p.kinds[f.Name] = k
		}
	}
	seenSet := map[string]map[kind]bool{}
	misfit := map[string]bool{} // an existing column cannot hold some value
	for _, r := range records {
		for key, v := range r {
			if key == TimeColumn {
				continue
			}
			col := columnKey(key)
			s := seenSet[col]
			if s == nil {
				s = map[kind]bool{}
				seenSet[col] = s
			}
			vk := kindOf(v)
			if vk == kindNone {
				continue
			}
			s[vk] = true
			if existing, ok := p.kinds[col]; ok {
				if !fits(v, existing) {
					misfit[col] = true
				}
			}
		}
	}
	cols := make([]string, 0, len(seenSet))
	for c := range seenSet {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	added := map[string]bool{}
	add := func(name string, k kind) {
		if _, exists := p.kinds[name]; exists || added[name] {
			return
		}
		added[name] = true
		p.kinds[name] = k
		p.adds = append(p.adds, addColumn{name, k})
	}
	for _, col := range cols {
		var seen []kind
		for k := range seenSet[col] {
			seen = append(seen, k)
		}
		slices.Sort(seen)
		p.seen[col] = seen
		existing, exists := p.kinds[col]
		switch {
		case !exists && len(seen) == 0: // only nulls: wait for a typed value
		case !exists && len(seen) == 1:
			add(col, seen[0])
		case !exists:
			add(col, kindString)
			p.conflicts = append(p.conflicts, Conflict{Column: col, Seen: kindStrings(seen), StoredIn: col})
		case len(seen) > 1 || (len(seen) == 1 && seen[0] != existing):
			c := Conflict{Column: col, Table: existing.String(), Seen: kindStrings(seen), StoredIn: col}
			if misfit[col] {
				c.StoredIn = col + StringSuffix
				add(c.StoredIn, kindString)
			}
			p.conflicts = append(p.conflicts, c)
		}
	}
	return p
}

func kindStrings(ks []kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.String()
	}
	return out
}
