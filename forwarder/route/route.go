// Package route owns the forwarder's routing: which database and table, and
// which outputs, an event's Fluentd tag goes to. Routes are tried in order
// as Fluentd's <match> sections are (the first match wins); a route names the
// table or leaves it to tdlog's rule (last two tag parts, normalised); what
// no route accepts goes to the default table when one is configured and is
// refused otherwise (ErrUnroutable) - never acknowledged and dropped.
package route

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"github.com/spillwayhq/spillway/forwarder/intake"
	"github.com/spillwayhq/spillway/shared/names"
)

// DefaultOutput names the output configured under the top-level "output:"
// key.
const DefaultOutput = "default"

// Route is one entry of the "routes:" list.
type Route struct {
	// Match is a Fluentd match pattern ("app.**", "web.{access,error}",
	// several separated by spaces).
	Match string `yaml:"match"`
	// DB and Table, both or neither, name the table; neither applies
	// tdlog's rule (the tag's last two parts, normalised).
	DB    string `yaml:"db"`
	Table string `yaml:"table"`
	// Output names the outputs the events are sent to, one name or a list
	// (td-agent's copy); empty means the default output.
	Output Names `yaml:"output"`
}

// Names is a list of output names written as one name or a YAML list.
type Names []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (n *Names) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode {
		*n = Names{v.Value}
		return nil
	}
	var l []string
	if err := v.Decode(&l); err != nil {
		return fmt.Errorf("output: want a name or a list of names: %w", err)
	}
	*n = l
	return nil
}

// Config is the routing part of the forwarder's configuration.
type Config struct {
	// Routes are tried in order; the first whose Match accepts the tag
	// routes the event. With no routes, a tag routes only when it is
	// td.<db>.<table> with valid names (the forwarder's rule before
	// routing existed).
	Routes []Route
	// DefaultTable, "db.table", stores what no route accepts; empty
	// refuses it.
	DefaultTable string
	// Outputs are the names routes may refer to (DefaultOutput is always
	// valid).
	Outputs []string
	// KeepTag names the outputs (forward outputs, DefaultOutput among
	// them possibly) whose buffers store events under the tags they
	// arrived with rather than the route's td.<db>.<table>: a route
	// sending only to such outputs needs no table, so a tag tdlog's rule
	// cannot name one from ("app") is routed too.
	KeepTag []string
}

// Dest is where a tag's events go.
type Dest struct {
	// Tag is td.<db>.<table>: the buffer's key for the table (the event's
	// own tag when the route's outputs all keep tags and tdlog's rule
	// names no table from it).
	Tag string
	// Outputs are the output names (at least one).
	Outputs []string
	// Default reports that no route accepted the tag and the default
	// table did.
	Default bool
}

// Stats are the router's counters (distinct tags, not events).
type Stats struct {
	CachedTags uint64 // tags remembered with their destination
}

// ErrUnroutable is intake.ErrUnroutable: no route accepts the tag.
var ErrUnroutable = intake.ErrUnroutable

type compiled struct {
	pat     *Pattern
	tag     string // fixed destination tag, "" for tdlog's rule
	outputs []string
	// anyTag: every output keeps the events' own tags; no table needed.
	anyTag bool
}

// Router maps tags to destinations. Patterns are compiled once and each
// tag's answer is cached, so routing an event costs one map lookup.
type Router struct {
	routes  []compiled
	keepTag map[string]bool // Config.KeepTag
	def     *Dest
	legacy  bool // no routes: td.<db>.<table> only

	cache  sync.Map // string -> result
	cached atomic.Int64
}

type result struct {
	d   Dest
	err error
}

// maxCached bounds the remembered tags so a client inventing tags cannot
// grow memory without limit; beyond it tags are routed uncached.
const maxCached = 10000

// Validate reports every problem of c, each prefixed with its path.
func (c Config) Validate() error {
	_, err := New(c)
	return err
}

// New compiles c.
func New(c Config) (*Router, error) {
	var errs []error
	known := map[string]bool{DefaultOutput: true}
	for _, o := range c.Outputs {
		known[o] = true
	}
	outputs := func(p string, n Names) []string {
		if len(n) == 0 {
			return []string{DefaultOutput}
		}
		seen := map[string]bool{}
		for _, o := range n {
			if !known[o] {
				errs = append(errs, fmt.Errorf("%s.output: no output named %q", p, o))
			}
			if seen[o] {
				errs = append(errs, fmt.Errorf("%s.output: %q named twice", p, o))
			}
			seen[o] = true
		}
		return append([]string(nil), n...)
	}
	r := &Router{legacy: len(c.Routes) == 0, keepTag: map[string]bool{}}
	for _, o := range c.KeepTag {
		r.keepTag[o] = true
	}
	for i, rt := range c.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		pat, err := CompilePattern(rt.Match)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.match: %w", p, err))
		}
		cr := compiled{pat: pat, outputs: outputs(p, rt.Output), anyTag: true}
		for _, o := range cr.outputs {
			cr.anyTag = cr.anyTag && r.keepTag[o]
		}
		switch {
		case rt.DB == "" && rt.Table == "":
		case rt.DB == "" || rt.Table == "":
			errs = append(errs, fmt.Errorf("%s: set both db and table, or neither (tdlog's rule)", p))
		default:
			if err := names.Validate("database", rt.DB); err != nil {
				errs = append(errs, fmt.Errorf("%s.db: %w", p, err))
			}
			if err := names.Validate("table", rt.Table); err != nil {
				errs = append(errs, fmt.Errorf("%s.table: %w", p, err))
			}
			cr.tag = names.Tag(rt.DB, rt.Table)
		}
		r.routes = append(r.routes, cr)
	}
	if c.DefaultTable != "" {
		db, table, ok := strings.Cut(c.DefaultTable, ".")
		if !ok {
			errs = append(errs, fmt.Errorf("default_table: %q is not db.table", c.DefaultTable))
		} else if err := errors.Join(names.Validate("database", db), names.Validate("table", table)); err != nil {
			errs = append(errs, fmt.Errorf("default_table: %w", err))
		}
		r.def = &Dest{Tag: names.Tag(db, table), Outputs: []string{DefaultOutput}, Default: true}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Route returns where tag's events go, or an error wrapping ErrUnroutable.
// Safe for concurrent use; the returned Dest must not be modified.
func (r *Router) Route(tag string) (Dest, error) {
	if v, ok := r.cache.Load(tag); ok {
		res := v.(*result)
		return res.d, res.err
	}
	d, err := r.route(tag)
	if r.cached.Load() < maxCached {
		if _, loaded := r.cache.LoadOrStore(tag, &result{d: d, err: err}); !loaded {
			r.cached.Add(1)
		}
	}
	return d, err
}

// Routable reports whether tag's events would be stored.
func (r *Router) Routable(tag string) bool {
	_, err := r.Route(tag)
	return err == nil
}

// Stats returns the counters.
func (r *Router) Stats() Stats { return Stats{CachedTags: uint64(r.cached.Load())} }

func (r *Router) route(tag string) (Dest, error) {
	if r.legacy {
		if _, _, err := names.ParseTag(tag); err == nil {
			return Dest{Tag: tag, Outputs: []string{DefaultOutput}}, nil
		}
	}
	for _, cr := range r.routes {
		if !cr.pat.Match(tag) {
			continue
		}
		if cr.tag != "" {
			return Dest{Tag: cr.tag, Outputs: cr.outputs}, nil
		}
		if db, table, ok := TDLogTable(tag); ok {
			return Dest{Tag: names.Tag(db, table), Outputs: cr.outputs}, nil
		}
		if cr.anyTag {
			// Only outputs that keep the event's tag: no table needed.
			return Dest{Tag: tag, Outputs: cr.outputs}, nil
		}
		// Fluentd: the first match takes the event; tdlog would fail
		// the chunk forever. Here it falls to the default table.
		break
	}
	if r.def != nil {
		return *r.def, nil
	}
	return Dest{}, fmt.Errorf("%w: tag %q", ErrUnroutable, clip(tag))
}

func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
