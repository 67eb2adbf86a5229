package convert

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spillwayhq/spillway/forwarder/filter"
)

// hostnameRuby are the embedded-Ruby spellings of the host name that
// record_transformer configurations use.
var hostnameRuby = strings.NewReplacer(`#{Socket.gethostname}`, "${hostname}", `#{hostname}`, "${hostname}")

// filterOut is one entry of filters: as written (filter.Config with empty
// parts left out).
type filterOut struct {
	Match             string          `yaml:"match,omitempty"`
	RecordTransformer *transformerOut `yaml:"record_transformer,omitempty"`
	Grep              *grepOut        `yaml:"grep,omitempty"`
	cfg               filter.Config   // what is validated
}

type transformerOut struct {
	Add    map[string]string `yaml:"add,omitempty"`
	Remove []string          `yaml:"remove,omitempty"`
}

type grepOut struct {
	Include []filter.Rule `yaml:"include,omitempty"`
	Exclude []filter.Rule `yaml:"exclude,omitempty"`
}

// rubyPattern matches a v1 grep pattern written as a Ruby literal /re/
// (flags after the closing slash are not carried).
var rubyPattern = regexp.MustCompile(`^/(.*)/$`)

// grepPattern turns a grep pattern into the forwarder's (RE2), or reports
// why it cannot.
func grepPattern(v string) (string, error) {
	v = strings.TrimSpace(v)
	if m := rubyPattern.FindStringSubmatch(v); m != nil {
		return goEscapes(m[1]), nil
	}
	if strings.HasPrefix(v, "/") {
		return "", fmt.Errorf("pattern %s: regexp flags are not carried over", v)
	}
	return goEscapes(v), nil
}

// convertFilter carries a record_transformer or grep <filter> to filters:.
func (c *converter) convertFilter(e *Element) {
	f := filterOut{Match: e.Arg}
	fail := func(format string, args ...any) {
		c.omit(nil, e.Line, "<filter %s> @type %s: %s; filter skipped", e.Arg, e.Type(), fmt.Sprintf(format, args...))
	}
	switch e.Type() {
	case "record_transformer":
		t := &transformerOut{}
		for _, p := range e.Params {
			switch p.Key {
			case "@type", "type":
			case "remove_keys":
				t.Remove = splitList(p.Value)
			case "enable_ruby", "auto_typecast":
				if b, err := parseBool(p.Value); err != nil || b {
					fail("%s %s: Ruby expressions and typecasts are not evaluated", p.Key, p.Value)
					return
				}
			default:
				if why, ok := ignorable[p.Key]; ok {
					c.note(nil, p.Line, "<filter %s> %s %s: %s", e.Arg, p.Key, p.Value, why)
					continue
				}
				fail("%s %s is not carried over", p.Key, p.Value)
				return
			}
		}
		for _, r := range e.Elems {
			if r.Name != "record" {
				fail("<%s> is not carried over", r.Name)
				return
			}
			for _, p := range r.Params {
				if t.Add == nil {
					t.Add = map[string]string{}
				}
				t.Add[p.Key] = hostnameRuby.Replace(p.Value)
			}
		}
		// Fluentd removes remove_keys after adding <record>; the forwarder
		// removes first, so a field both added and removed is not added.
		for _, k := range t.Remove {
			if _, ok := t.Add[k]; ok {
				delete(t.Add, k)
				c.note(nil, e.Line, "<filter %s>: %s is both in <record> and remove_keys; removed, as in Fluentd", e.Arg, k)
			}
		}
		f.RecordTransformer = t
		f.cfg.RecordTransformer = &filter.RecordTransformer{Add: t.Add, Remove: t.Remove}
	case "grep":
		g := &grepOut{}
		add := func(kind, key, pat string) bool {
			re, err := grepPattern(pat)
			if err != nil {
				fail("%v", err)
				return false
			}
			r := filter.Rule{Key: key, Pattern: re}
			if kind == "regexp" {
				g.Include = append(g.Include, r)
			} else {
				g.Exclude = append(g.Exclude, r)
			}
			return true
		}
		for _, p := range e.Params { // v0.12: regexpN key pattern, excludeN key pattern
			switch {
			case p.Key == "@type" || p.Key == "type":
			case strings.HasPrefix(p.Key, "regexp") || strings.HasPrefix(p.Key, "exclude"):
				key, pat, _ := strings.Cut(p.Value, " ")
				kind := "regexp"
				if strings.HasPrefix(p.Key, "exclude") {
					kind = "exclude"
				}
				if !add(kind, key, pat) {
					return
				}
			default:
				if why, ok := ignorable[p.Key]; ok {
					c.note(nil, p.Line, "<filter %s> %s %s: %s", e.Arg, p.Key, p.Value, why)
					continue
				}
				fail("%s %s is not carried over", p.Key, p.Value)
				return
			}
		}
		for _, s := range e.Elems { // v1: <regexp> / <exclude> with key and pattern
			if s.Name != "regexp" && s.Name != "exclude" {
				fail("<%s> is not carried over (the forwarder's grep has include and exclude rules only)", s.Name)
				return
			}
			key, _ := s.Get("key")
			pat, _ := s.Get("pattern")
			if !add(s.Name, key, pat) {
				return
			}
		}
		f.Grep = g
		f.cfg.Grep = &filter.Grep{Include: g.Include, Exclude: g.Exclude}
	default:
		c.omit(nil, e.Line, "<filter %s> @type %s: the forwarder's filters are record_transformer and grep", e.Arg, e.Type())
		return
	}
	f.cfg.Match = f.Match
	if err := filter.Validate([]filter.Config{f.cfg}); err != nil {
		fail("%v", err)
		return
	}
	n := &yamlNode{}
	if err := n.Encode(f); err != nil {
		fail("%v", err)
		return
	}
	c.filters = append(c.filters, n)
}
