package convert

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// The YAML below is written only inside "not carried over" comments: it is
// how issue 13 describes filters, and the schema being added may differ.

// grepRule is one grep condition of a filter sketch.
type grepRule struct {
	Key     string `yaml:"key"`
	Pattern string `yaml:"pattern"`
}

// filterSketch is one entry of the filters list issue 13 describes.
type filterSketch struct {
	Match  string            `yaml:"match"`
	Add    map[string]string `yaml:"add,omitempty"`
	Remove []string          `yaml:"remove,omitempty"`
	Grep   *struct {
		Include []grepRule `yaml:"include,omitempty"`
		Exclude []grepRule `yaml:"exclude,omitempty"`
	} `yaml:"grep,omitempty"`
}

// hostnameRuby are the embedded-Ruby spellings of the host name that
// record_transformer configurations use.
var hostnameRuby = strings.NewReplacer(`#{Socket.gethostname}`, "${hostname}", `#{hostname}`, "${hostname}")

// sketchFilter returns the filters: YAML a record_transformer or grep
// <filter> would need, or "" for other filters.
func sketchFilter(e *Element) string {
	f := filterSketch{Match: e.Arg}
	switch e.Type() {
	case "record_transformer":
		for _, p := range e.Params {
			if p.Key == "remove_keys" {
				f.Remove = splitList(p.Value)
			}
		}
		for _, r := range e.Elems {
			if r.Name != "record" {
				continue
			}
			for _, p := range r.Params {
				if f.Add == nil {
					f.Add = map[string]string{}
				}
				f.Add[p.Key] = hostnameRuby.Replace(p.Value)
			}
		}
	case "grep":
		f.Grep = &struct {
			Include []grepRule `yaml:"include,omitempty"`
			Exclude []grepRule `yaml:"exclude,omitempty"`
		}{}
		for _, p := range e.Params { // v0.12: regexpN key pattern, excludeN key pattern
			key, pat, _ := strings.Cut(p.Value, " ")
			r := grepRule{Key: key, Pattern: strings.TrimSpace(pat)}
			switch {
			case strings.HasPrefix(p.Key, "regexp"):
				f.Grep.Include = append(f.Grep.Include, r)
			case strings.HasPrefix(p.Key, "exclude"):
				f.Grep.Exclude = append(f.Grep.Exclude, r)
			}
		}
		for _, s := range e.Elems { // v1: <regexp> / <exclude> with key and pattern
			key, _ := s.Get("key")
			pat, _ := s.Get("pattern")
			r := grepRule{Key: key, Pattern: strings.Trim(pat, "/")}
			switch s.Name {
			case "regexp":
				f.Grep.Include = append(f.Grep.Include, r)
			case "exclude":
				f.Grep.Exclude = append(f.Grep.Exclude, r)
			}
		}
	default:
		return ""
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(map[string][]filterSketch{"filters": {f}}); err != nil {
		return ""
	}
	if err := enc.Close(); err != nil {
		return ""
	}
	return "It would read:\n" + indent(strings.TrimRight(b.String(), "\n"))
}

// indent prefixes every line of s with two spaces.
func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
