package fanout

import "sort"

// Column types of the catalog schema (TD's type names).
const (
	TypeString  = "string"
	TypeLong    = "long"
	TypeDouble  = "double"
	TypeBoolean = "boolean"
	TypeArray   = "array"
	TypeMap     = "map"
	TypeBinary  = "binary"
)

// Schema maps column names to their widened type.
type Schema map[string]string

// Widen returns the type that holds values of both a and b: equal types stay,
// long and double widen to double, anything else to string. "" is neutral.
func Widen(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "" || a == b:
		return a
	case (a == TypeLong && b == TypeDouble) || (a == TypeDouble && b == TypeLong):
		return TypeDouble
	}
	return TypeString
}

// Add widens column col by type t.
func (s Schema) Add(col, t string) { s[col] = Widen(s[col], t) }

// Merge widens s by every column of o and reports whether s changed.
func (s Schema) Merge(o Schema) bool {
	changed := false
	for c, t := range o {
		w := Widen(s[c], t)
		if w != s[c] {
			s[c] = w
			changed = true
		}
	}
	return changed
}

// MaxSchemaColumns bounds the columns the catalog records for a table
// (TD caps a record at 512 keys; the union over a table's records has no
// bound, and a catalog item over DynamoDB's 400 KB would block the table).
// Columns beyond it are logged ("catalog schema full") and left out of the
// schema; the events keep them.
const MaxSchemaColumns = 512

// MergeCapped widens s by o like Merge, but adds new columns only while s
// has fewer than MaxSchemaColumns, in name order; it returns whether s
// changed and the new columns it left out.
func (s Schema) MergeCapped(o Schema) (changed bool, dropped []string) {
	names := make([]string, 0, len(o))
	for c := range o {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		if _, ok := s[c]; !ok && len(s) >= MaxSchemaColumns {
			dropped = append(dropped, c)
			continue
		}
		if w := Widen(s[c], o[c]); w != s[c] {
			s[c] = w
			changed = true
		}
	}
	return changed, dropped
}
