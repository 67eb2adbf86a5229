// Package convert owns the migration from td-agent: it reads a td-agent /
// Fluentd (v0.12 or v1) configuration and writes the equivalent forwarder
// YAML, with a comment for every directive it cannot carry over.
//
// What maps to what is listed in forwarder/README.md ("Migrating from
// td-agent"). The output is meant to pass the forwarder's own validation
// (spillway-forwarder --check); remarks never change what it does, they say
// what the user must decide.
package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/spillwayhq/spillway/shared/names"
)

// Remark is one directive of the input and what became of it.
type Remark struct {
	Line int    // line of the directive in the input (0: the file as a whole)
	Text string // what was not carried over, or how it was carried
}

// Result is a conversion.
type Result struct {
	YAML []byte
	// Omissions are directives not carried over (each also written as a
	// "# not carried over:" comment in YAML).
	Omissions []Remark
	// Notes are directives carried over in another form ("# note:").
	Notes []Remark
}

// tdImportDefault is tdlog's default endpoint (fluent-plugin-td's import
// endpoint).
const tdImportDefault = "api-import.treasuredata.com"

// apacheRegexp and apacheTime are Fluentd's "apache" parser (common or
// combined log format, fields as strings), carried as a regexp parser.
const (
	apacheRegexp = `/^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>[^ ]*) +\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\"]*)" "(?<agent>[^\"]*)")?$/`
	apacheTime   = "%d/%b/%Y:%H:%M:%S %z"
)

// envRef matches a value that only reads an environment variable in
// embedded Ruby: "#{ENV['NAME']}".
var envRef = regexp.MustCompile(`^#\{ENV\[['"]([A-Za-z_][A-Za-z0-9_]*)['"]\]\}$`)

// converter holds the state of one conversion.
type converter struct {
	res     Result
	top     []string // remarks written at the top of the file
	tails   []*section
	http    *section
	forward *section
	buffer  *section
	output  *section
	monitor *section
	// tdMatch is the first <match> whose tdlog or forward output (or such
	// a copy <store>) became an output; tdMatches are all of them.
	tdMatch   *Element
	tdPattern string
	tdMatches map[*Element]bool
	outIDs    map[string]string // output name by tdlog apikey and endpoint
	named     []*section        // outputs: entries
	// routing is set when the tdlog and forward <match>es need routes:
	// anything but one such <match td.*.*> (the forwarder's rule without
	// routes).
	routing  bool
	routes   []*section
	filters  []*yamlNode
	matches  []*Element
	tailTags map[string]int // tags of the tail sources so far
}

func (c *converter) omit(s *section, line int, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	c.res.Omissions = append(c.res.Omissions, Remark{Line: line, Text: text})
	msg := "not carried over: " + text
	if line > 0 {
		msg = fmt.Sprintf("not carried over (line %d): %s", line, text)
	}
	if s != nil {
		s.remark(msg)
	} else {
		c.top = append(c.top, msg)
	}
}

// noteIgnorable notes p in s when it is a td-agent parameter the
// forwarder has no use for (ignorable), and reports whether it did.
func (c *converter) noteIgnorable(s *section, p Param) bool {
	why, ok := ignorable[p.Key]
	if ok {
		c.note(s, p.Line, "%s %s: %s", p.Key, p.Value, why)
	}
	return ok
}

func (c *converter) note(s *section, line int, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	c.res.Notes = append(c.res.Notes, Remark{Line: line, Text: text})
	msg := fmt.Sprintf("note (line %d): %s", line, text)
	if s != nil {
		s.remark(msg)
	} else {
		c.top = append(c.top, msg)
	}
}

// Convert turns a parsed configuration into forwarder YAML. name is shown
// in the header comment.
func Convert(root *Element, name string) (Result, error) {
	c := &converter{}
	for _, e := range root.Elems {
		if e.Name == "match" {
			c.matches = append(c.matches, e)
		}
	}
	var tdMatches []*Element
	stores := 0
	for _, m := range c.matches {
		if n := tdStores(m) + forwardOutputs(m); n > 0 {
			tdMatches = append(tdMatches, m)
			stores += n
		}
	}
	c.routing = len(tdMatches) > 1 || stores > 1 || len(tdMatches) == 1 && tdMatches[0].Arg != "td.*.*"
	// The TD output first: sources need to know which tags reach it.
	for _, m := range c.matches {
		c.convertMatch(m)
	}
	for _, p := range root.Params {
		if p.Key == "@include" || p.Key == "include" {
			c.omit(nil, p.Line, "@include %s: convert the included files too and merge them", p.Value)
		} else {
			c.omit(nil, p.Line, "top-level %s %s", p.Key, p.Value)
		}
	}
	for _, e := range root.Elems {
		switch e.Name {
		case "source":
			c.convertSource(e)
		case "match":
		case "filter":
			c.convertFilter(e)
		case "label":
			c.omit(nil, e.Line, "<label %s>: labels and their sections are not converted", e.Arg)
		case "system":
			c.convertSystem(e)
		default:
			c.omit(nil, e.Line, "<%s>: unknown section", e.Name)
		}
	}
	if c.output == nil {
		c.output = newSection()
		p := c.output.child("primary")
		p.set("url", str("https://"+tdImportDefault), "placeholder: set the import endpoint")
		p.set("api_key_env", str("TD_API_KEY"), "placeholder: set the key")
		c.omit(c.output, 0, "no tdlog output in the configuration: this output is a placeholder to edit before use")
	}
	out, err := c.render(name)
	if err != nil {
		return Result{}, err
	}
	c.res.YAML = out
	return c.res, nil
}

// render writes the YAML document.
func (c *converter) render(name string) ([]byte, error) {
	doc := newSection()
	head := []string{
		fmt.Sprintf("Converted from %s by spillway-forwarder convert.", name),
		fmt.Sprintf("%d directive(s) not carried over, %d carried in another form: see the comments.", len(c.res.Omissions), len(c.res.Notes)),
		"Check with: spillway-forwarder -config FILE --check",
	}
	doc.remarks = append(head, c.top...)
	srcs := newSection()
	if len(c.tails) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, t := range c.tails {
			seq.Content = append(seq.Content, t.finish(true))
		}
		srcs.set("tail", seq, "")
	}
	if c.http != nil {
		srcs.set("http", c.http.finish(), "")
	}
	if c.forward != nil {
		srcs.set("forward", c.forward.finish(), "")
	}
	doc.set("sources", srcs.node, "")
	if c.buffer != nil {
		doc.set("buffer", c.buffer.finish(), "")
	}
	doc.set("output", c.output.finish(), "")
	if len(c.named) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, o := range c.named {
			seq.Content = append(seq.Content, o.finish(true))
		}
		doc.set("outputs", seq, "")
	}
	if len(c.routes) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, r := range c.routes {
			seq.Content = append(seq.Content, r.finish(true))
		}
		doc.set("routes", seq, "")
	}
	if len(c.filters) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, f := range c.filters {
			if f.Kind == yaml.DocumentNode && len(f.Content) == 1 {
				f = f.Content[0]
			}
			seq.Content = append(seq.Content, f)
		}
		doc.set("filters", seq, "")
	}
	if c.monitor != nil {
		doc.set("monitor", c.monitor.finish(), "")
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc.finish()}}); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	return b.Bytes(), nil
}

// convertSystem carries <system> log_level.
func (c *converter) convertSystem(e *Element) {
	for _, p := range e.Params {
		c.omit(nil, p.Line, "<system> %s %s", p.Key, p.Value)
	}
	for _, s := range e.Elems {
		c.omit(nil, s.Line, "<system><%s>", s.Name)
	}
}

// ignorable are parameters with no effect on what is shipped.
var ignorable = map[string]string{
	"@id":        "plugin id (names the plugin in td-agent's logs)",
	"@log_level": "per-plugin log level (the forwarder has log.level)",
	"log_level":  "per-plugin log level (the forwarder has log.level)",
}

// firstMatch returns the first top-level <match> accepting tag (Fluentd
// routes an event to the first match only).
func (c *converter) firstMatch(tag string) *Element {
	for _, m := range c.matches {
		if matchTag(m.Arg, tag) {
			return m
		}
	}
	return nil
}

// reachesTD reports whether events of match m are stored by the tdlog
// output that became the forwarder's output.
func (c *converter) reachesTD(m *Element) bool {
	return m != nil && c.tdMatches[m]
}

// tdTag returns the td.<db>.<table> tag tdlog stores events tagged tag
// under (its last two parts), or an error.
func tdTag(tag string) (string, error) {
	parts := strings.Split(tag, ".")
	if len(parts) < 2 {
		return "", fmt.Errorf("tag %q has fewer than two parts: tdlog cannot name a database and table from it", tag)
	}
	db, table := parts[len(parts)-2], parts[len(parts)-1]
	if err := names.Validate("database", db); err != nil {
		return "", err
	}
	if err := names.Validate("table", table); err != nil {
		return "", err
	}
	return names.Tag(db, table), nil
}

// splitList reads a Fluentd array: a JSON array or comma-separated values.
func splitList(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") {
		var out []string
		if json.Unmarshal([]byte(v), &out) == nil {
			return out
		}
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
