package filter

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/tinylib/msgp/msgp"
)

// Chain is the filters that apply to one tag, with its placeholders
// expanded.
type Chain struct {
	set   *Set
	steps []step
}

type step struct {
	f   *compiled
	add []field
}

// field is a field to add, its value encoded once per tag.
type field struct {
	key  string
	bkey []byte
	val  []byte // msgpack string
}

type entry struct {
	key []byte // points into the input (or a renamed key)
	val []byte // raw msgpack value
}

// Apply filters count concatenated msgpack maps, appending the kept and
// rewritten ones to dst; it returns dst and the number kept.
func (c *Chain) Apply(dst, records []byte, count int) ([]byte, int, error) {
	kept := 0
	var entries []entry
	for i := 0; i < count; i++ {
		n, rest, err := msgp.ReadMapHeaderBytes(records)
		if err != nil {
			return dst, kept, fmt.Errorf("filter record %d: %w", i, err)
		}
		entries = entries[:0]
		for j := uint32(0); j < n; j++ {
			k, r, err := msgp.ReadStringZC(rest)
			if err != nil {
				return dst, kept, fmt.Errorf("filter record %d key: %w", i, err)
			}
			v, err := msgp.Skip(r)
			if err != nil {
				return dst, kept, fmt.Errorf("filter record %d value: %w", i, err)
			}
			entries = append(entries, entry{k, r[:len(r)-len(v)]})
			rest = v
		}
		records = rest
		keep := true
		for _, s := range c.steps {
			if entries, keep = s.apply(entries); !keep {
				break
			}
		}
		if !keep {
			c.set.dropped.Add(1)
			continue
		}
		dst = msgp.AppendMapHeader(dst, uint32(len(entries)))
		for _, e := range entries {
			dst = msgp.AppendStringFromBytes(dst, e.key)
			dst = append(dst, e.val...)
		}
		kept++
	}
	return dst, kept, nil
}

func (s step) apply(es []entry) ([]entry, bool) {
	f := s.f
	for _, r := range f.include {
		v, ok := lookup(es, r.key)
		if !ok || !r.re.MatchString(v) {
			return es, false
		}
	}
	for _, r := range f.exclude {
		if v, ok := lookup(es, r.key); ok && r.re.MatchString(v) {
			return es, false
		}
	}
	if len(f.remove) > 0 || len(f.rename) > 0 {
		// A renamed field replaces a field already named as its new name.
		var produced [][]byte
		for _, e := range es {
			if to, ok := f.rename[string(e.key)]; ok && !f.remove[string(e.key)] {
				produced = append(produced, to)
			}
		}
		out := es[:0]
		for _, e := range es {
			if f.remove[string(e.key)] {
				continue
			}
			if to, ok := f.rename[string(e.key)]; ok {
				e.key = to
			} else if slices.ContainsFunc(produced, func(p []byte) bool { return string(p) == string(e.key) }) {
				continue
			}
			out = append(out, e)
		}
		es = out
	}
	for _, a := range s.add {
		replaced := false
		for i := range es {
			if string(es[i].key) == a.key {
				es[i].val, replaced = a.val, true
			}
		}
		if !replaced {
			es = append(es, entry{a.bkey, a.val})
		}
	}
	return es, true
}

// lookup returns a field's value as text: strings as they are, numbers,
// booleans and nil as Ruby's to_s writes them; other types do not match.
func lookup(es []entry, key string) (string, bool) {
	for _, e := range es {
		if string(e.key) != key {
			continue
		}
		if s, _, err := msgp.ReadStringZC(e.val); err == nil {
			return string(s), true
		}
		v, _, err := msgp.ReadIntfBytes(e.val)
		if err != nil {
			return "", false
		}
		switch x := v.(type) {
		case string:
			return x, true
		case []byte:
			return string(x), true
		case int64:
			return strconv.FormatInt(x, 10), true
		case uint64:
			return strconv.FormatUint(x, 10), true
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), true
		case float32:
			return strconv.FormatFloat(float64(x), 'g', -1, 32), true
		case bool:
			return strconv.FormatBool(x), true
		case nil:
			return "", true
		default:
			return "", false
		}
	}
	return "", false
}
