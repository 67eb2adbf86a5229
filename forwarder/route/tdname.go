package route

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spillwayhq/spillway/shared/names"
)

// NormalizeName applies Treasure Data's name normalisation as the tdlog
// output does (td-client's normalize_database_name): an empty name is
// refused (ok false); shorter than 3 characters is padded with "_"; longer
// than 255 is cut to 253 and "__" appended; then lower-cased, and every
// character outside [a-z0-9_] becomes "_". Lengths count characters (runes),
// as Ruby does; bytes that are not UTF-8 count one each.
func NormalizeName(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	n := utf8.RuneCountInString(s)
	if n < names.MinLen {
		s += strings.Repeat("_", names.MinLen-n)
	}
	if n > names.MaxLen {
		cut, i := 0, 0
		for i < len(s) && cut < names.MaxLen-2 {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			cut++
		}
		s = s[:i] + "__"
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		r = unicode.ToLower(r)
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String(), true
}

// TDLogTable is tdlog's rule: the last two parts of tag, normalised, are the
// database and the table ("app.access" -> app, access; "td.web.access" ->
// web, access). A tag of fewer than two parts, or with an empty one of them,
// has no table (ok false; tdlog fails such a chunk forever).
func TDLogTable(tag string) (db, table string, ok bool) {
	last := strings.LastIndexByte(tag, '.')
	if last < 0 {
		return "", "", false
	}
	rest := tag[:last]
	prev := strings.LastIndexByte(rest, '.')
	db, ok1 := NormalizeName(rest[prev+1:])
	table, ok2 := NormalizeName(tag[last+1:])
	return db, table, ok1 && ok2
}
