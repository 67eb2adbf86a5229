package fanout

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
