package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// check walks the YAML document n against the type t before it is decoded:
// it reports unknown keys (with the nearest known key) and values of the
// wrong kind, each with its YAML path and in the file's terms (never a Go
// type name), and rewrites sizes written with a unit (8m) into bytes.
func check(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			check(c, t, path, errs)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) || n.Tag == "!!null" {
		return
	}
	fail := func(format string, args ...any) {
		*errs = append(*errs, fmt.Errorf("%s: %s", orTop(path), fmt.Sprintf(format, args...)))
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			fail("want a mapping of keys, got %s", describe(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, fmt.Errorf("%s: unknown key%s", join(path, k.Value), suggest(k.Value, fields)))
				continue
			}
			check(v, f.Type, join(path, k.Value), errs)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			fail("want a list ([a, b] or lines starting with -), got %s", describe(n))
			return
		}
		for i, c := range n.Content {
			check(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			fail("want a mapping of keys, got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs)
		}
	case reflect.Interface:
	default:
		if n.Kind != yaml.ScalarNode {
			fail("want a single value, got %s", describe(n))
			return
		}
		checkScalar(n, t, path, fail)
	}
}

// checkScalar checks (and for sizes, rewrites) one scalar value.
func checkScalar(n *yaml.Node, t reflect.Type, path string, fail func(string, ...any)) {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if t == durationType {
			if _, err := time.ParseDuration(n.Value); err != nil {
				fail("%q is not a duration (e.g. 500ms, 10s, 5m, 1h)", n.Value)
			}
			return
		}
		if isSizeKey(path) {
			v, err := ParseSize(n.Value)
			if err != nil || v > math.MaxInt64>>(64-t.Bits()) {
				fail("%q is not a size (bytes, or a number with k, m, g or t: 512k, 8m, 1g)", n.Value)
				return
			}
			n.Value, n.Tag, n.Style = strconv.FormatInt(v, 10), "!!int", 0
			return
		}
		if _, err := strconv.ParseInt(n.Value, 0, t.Bits()); err != nil {
			fail("%q is not a whole number", n.Value)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if _, err := strconv.ParseUint(n.Value, 0, t.Bits()); err != nil {
			fail("%q is not a whole number >= 0", n.Value)
		}
	case reflect.Float32, reflect.Float64:
		if _, err := strconv.ParseFloat(n.Value, t.Bits()); err != nil {
			fail("%q is not a number", n.Value)
		}
	case reflect.Bool:
		switch strings.ToLower(n.Value) {
		case "true", "false", "yes", "no", "on", "off":
		default:
			fail("%q is not true or false", n.Value)
		}
	}
}

// isSizeKey says whether the key at the end of path holds a byte size:
// *_bytes, *_size, chunk_limit and total_limit.
func isSizeKey(path string) bool {
	k := path[strings.LastIndexAny(path, ".]")+1:]
	return strings.HasSuffix(k, "_bytes") || strings.HasSuffix(k, "_size") || k == "chunk_limit" || k == "total_limit"
}

var sizeRE = regexp.MustCompile(`(?i)^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*$`)

// ParseSize reads a byte size as Fluentd does: plain bytes (1048576), or a
// number with k, m, g or t (optionally followed by b or ib), each 1024
// times the one before: 512k, 8m, 1.5g, 1GiB.
func ParseSize(s string) (int64, error) {
	if v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
		return v, nil
	}
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %w", s, err)
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[strings.ToLower(m[2])]
	v := f * float64(uint64(1)<<shift)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

// yamlFields maps the YAML keys of struct t to its fields (fields tagged
// "-" have none; untagged fields use the lower-cased name and ",inline"
// structs lend theirs, as in yaml.v3).
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			for k, inner := range yamlFields(f.Type) { // yaml.v3 ",inline": the fields are the parent's
				out[k] = inner
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

// suggest returns " (did you mean X?)" for the known key nearest to k, or
// "" when none is near.
func suggest(k string, known map[string]reflect.StructField) string {
	names := make([]string, 0, len(known))
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", max(2, len(k)/3)+1
	for _, n := range names {
		if d := levenshtein(k, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return " (known keys: " + strings.Join(names, ", ") + ")"
	}
	return " (did you mean " + best + "?)"
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names the kind of a YAML node in the file's terms.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return strconv.Quote(n.Value)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// goTypeRE matches what yaml.v3 names Go types with ("into int64",
// "in type config.Config").
var goTypeRE = regexp.MustCompile(` (into|in type) [\w.*\[\]]+`)

// plainYAMLError drops Go type names from a yaml.v3 error.
func plainYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]error, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = errors.New(goTypeRE.ReplaceAllString(m, ""))
		}
		return errors.Join(msgs...)
	}
	return errors.New(goTypeRE.ReplaceAllString(err.Error(), ""))
}
