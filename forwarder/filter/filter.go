// Package filter owns the forwarder's record filters, applied between the
// parsers and the disk buffer the way Fluentd's <filter> sections are: in
// order, each to the tags its match pattern accepts. record_transformer adds
// (with ${hostname}, ${tag}, ${tag_parts[N]}), removes and renames fields;
// grep keeps or drops records by a regexp on a field. Records are rewritten
// at the msgpack level (values are copied, never decoded, except the
// values a grep tests).
package filter

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tinylib/msgp/msgp"

	"github.com/spillwayhq/spillway/forwarder/route"
)

// Config is one entry of the "filters:" list: a match pattern and exactly
// one filter.
type Config struct {
	// Match is a Fluentd match pattern (default "**": every tag).
	Match string `yaml:"match"`
	// RecordTransformer adds, removes and renames fields.
	RecordTransformer *RecordTransformer `yaml:"record_transformer"`
	// Grep keeps or drops records by regexps on fields.
	Grep *Grep `yaml:"grep"`
}

// RecordTransformer is Fluentd's record_transformer without Ruby: Remove
// first, then Rename, then Add (which overwrites a field of the same name).
type RecordTransformer struct {
	// Add sets fields to strings with placeholders ${hostname}, ${tag}
	// and ${tag_parts[N]} (N from 0, negative from the end).
	Add map[string]string `yaml:"add"`
	// Remove deletes fields (remove_keys).
	Remove []string `yaml:"remove"`
	// Rename renames fields, old: new.
	Rename map[string]string `yaml:"rename"`
}

// Grep is Fluentd's grep filter: a record is kept when every Include rule
// matches (a missing field does not) and no Exclude rule does.
type Grep struct {
	Include []Rule `yaml:"include"`
	Exclude []Rule `yaml:"exclude"`
}

// Rule is a regexp on a field's value as a string (numbers and booleans in
// their usual text form).
type Rule struct {
	Key     string `yaml:"key"`
	Pattern string `yaml:"pattern"`
}

// Stats are the filter counters, in records.
type Stats struct {
	Dropped uint64 // records dropped by grep
}

// Set is the compiled filters list.
type Set struct {
	filters  []*compiled
	hostname string

	cache   sync.Map // tag -> *Chain (nil Chain: no filter applies)
	cached  atomic.Int64
	dropped atomic.Uint64
}

type compiled struct {
	pat     *route.Pattern
	add     []addField // in key order
	remove  map[string]bool
	rename  map[string][]byte
	include []rule
	exclude []rule
}

type addField struct{ key, tmpl string }

type rule struct {
	key string
	re  *regexp.Regexp
}

// placeholder is ${hostname}, ${tag} or ${tag_parts[N]}.
var placeholder = regexp.MustCompile(`\$\{([^}]*)\}`)

var tagPart = regexp.MustCompile(`^tag_parts\[(-?[0-9]+)\]$`)

// Validate reports every problem of cs, each prefixed with its path.
func Validate(cs []Config) error {
	_, err := New(cs, "")
	return err
}

// New compiles cs; hostname fills ${hostname}. It returns nil (no filters:
// nothing to do on the hot path) for an empty list.
func New(cs []Config, hostname string) (*Set, error) {
	var errs []error
	s := &Set{hostname: hostname}
	for i, c := range cs {
		p := fmt.Sprintf("filters[%d]", i)
		m := c.Match
		if m == "" {
			m = "**"
		}
		pat, err := route.CompilePattern(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.match: %w", p, err))
		}
		f := &compiled{pat: pat}
		switch {
		case (c.RecordTransformer == nil) == (c.Grep == nil):
			errs = append(errs, fmt.Errorf("%s: set exactly one of record_transformer and grep", p))
		case c.RecordTransformer != nil:
			errs = append(errs, f.transformer(p+".record_transformer", c.RecordTransformer)...)
		default:
			errs = append(errs, f.grep(p+".grep", c.Grep)...)
		}
		s.filters = append(s.filters, f)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(s.filters) == 0 {
		return nil, nil
	}
	return s, nil
}

func (f *compiled) transformer(p string, rt *RecordTransformer) []error {
	var errs []error
	f.remove = map[string]bool{}
	for _, k := range rt.Remove {
		if k == "time" {
			errs = append(errs, fmt.Errorf("%s.remove: the time field cannot be removed", p))
		}
		f.remove[k] = true
	}
	f.rename = map[string][]byte{}
	for from, to := range rt.Rename {
		if from == "time" || to == "time" || to == "" {
			errs = append(errs, fmt.Errorf("%s.rename: %q to %q: the time field cannot be renamed, and the new name must be set", p, from, to))
		}
		f.rename[from] = []byte(to)
	}
	keys := make([]string, 0, len(rt.Add))
	for k := range rt.Add {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := rt.Add[k]
		if k == "time" || k == "" {
			errs = append(errs, fmt.Errorf("%s.add: %q cannot be set", p, k))
		}
		for _, m := range placeholder.FindAllStringSubmatch(v, -1) {
			if m[1] != "hostname" && m[1] != "tag" && !tagPart.MatchString(m[1]) {
				errs = append(errs, fmt.Errorf("%s.add.%s: unknown placeholder ${%s} (${hostname}, ${tag}, ${tag_parts[N]})", p, k, m[1]))
			}
		}
		f.add = append(f.add, addField{k, v})
	}
	return errs
}

func (f *compiled) grep(p string, g *Grep) []error {
	var errs []error
	comp := func(kind string, rs []Rule) []rule {
		var out []rule
		for i, r := range rs {
			re, err := regexp.Compile(r.Pattern)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.%s[%d].pattern: %w", p, kind, i, err))
			}
			if r.Key == "" {
				errs = append(errs, fmt.Errorf("%s.%s[%d].key: must be set", p, kind, i))
			}
			out = append(out, rule{r.Key, re})
		}
		return out
	}
	f.include, f.exclude = comp("include", g.Include), comp("exclude", g.Exclude)
	if len(g.Include)+len(g.Exclude) == 0 {
		errs = append(errs, fmt.Errorf("%s: no include or exclude rule", p))
	}
	return errs
}

// Stats returns the counters; a nil Set has none.
func (s *Set) Stats() Stats {
	if s == nil {
		return Stats{}
	}
	return Stats{Dropped: s.dropped.Load()}
}

// maxCached bounds the remembered tags (see route.Router).
const maxCached = 10000

// For returns the chain of filters for tag, nil when none applies.
func (s *Set) For(tag string) *Chain {
	if s == nil {
		return nil
	}
	if v, ok := s.cache.Load(tag); ok {
		return v.(*Chain)
	}
	var c *Chain
	for _, f := range s.filters {
		if !f.pat.Match(tag) {
			continue
		}
		if c == nil {
			c = &Chain{set: s}
		}
		st := step{f: f}
		for _, a := range f.add {
			st.add = append(st.add, field{a.key, []byte(a.key), msgp.AppendString(nil, expand(a.tmpl, tag, s.hostname))})
		}
		c.steps = append(c.steps, st)
	}
	if s.cached.Load() < maxCached {
		if _, loaded := s.cache.LoadOrStore(tag, c); !loaded {
			s.cached.Add(1)
		}
	}
	return c
}

func expand(tmpl, tag, hostname string) string {
	parts := strings.Split(tag, ".")
	return placeholder.ReplaceAllStringFunc(tmpl, func(m string) string {
		name := m[2 : len(m)-1]
		switch name {
		case "hostname":
			return hostname
		case "tag":
			return tag
		}
		sm := tagPart.FindStringSubmatch(name)
		n, _ := strconv.Atoi(sm[1])
		if n < 0 {
			n += len(parts)
		}
		if n < 0 || n >= len(parts) {
			return "" // Ruby's nil.to_s
		}
		return parts[n]
	})
}

// Filter applies tag's chain to count records, appending the result to dst;
// applied is false (and records returned as they are) when no filter
// matches the tag. It implements route.Filter.
func (s *Set) Filter(tag string, dst, records []byte, count int) (out []byte, kept int, applied bool, err error) {
	c := s.For(tag)
	if c == nil {
		return records, count, false, nil
	}
	out, kept, err = c.Apply(dst, records, count)
	return out, kept, true, err
}
