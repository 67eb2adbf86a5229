package convert

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/spillwayhq/spillway/forwarder/parser"
	"github.com/spillwayhq/spillway/shared/names"
)

// convertSource converts one <source>.
func (c *converter) convertSource(e *Element) {
	switch t := e.Type(); t {
	case "tail":
		c.convertTail(e)
	case "http":
		c.convertHTTP(e)
	case "forward":
		c.convertForward(e)
	case "monitor_agent":
		c.convertMonitor(e)
	case "":
		c.omit(nil, e.Line, "<source> without @type")
	default:
		c.omit(nil, e.Line, "<source> @type %s: no such input in the forwarder (tail, http and forward are)", t)
	}
}

// convertTail converts a <source> @type tail.
func (c *converter) convertTail(e *Element) {
	s := newSection()
	tag, _ := e.Get("tag")
	switch {
	case tag == "":
		c.omit(nil, e.Line, "<source> @type tail without tag: source skipped")
		return
	case strings.Contains(tag, "*"):
		c.note(s, e.Line, "tag %s: the * expands from each file's path as in td-agent; a file whose tag no route accepts (without routes: not td.<database>.<table>) is not followed, where td-agent discarded its events or sent them to another <match>", tag)
		s.set("tag", str(tag), "")
		c.tailOptions(e, s, tag)
		return
	}
	m := c.firstMatch(tag)
	final := tag
	if _, _, err := names.ParseTag(tag); err != nil || c.routing {
		t, err := tdTag(tag)
		if err != nil {
			c.omit(nil, e.Line, "<source> @type tail, tag %s: %v; source skipped", tag, err)
			return
		}
		if !c.routing {
			final = t
			if c.reachesTD(m) {
				c.note(s, e.Line, "tag %s becomes %s: tdlog stores its events in that database and table (the tag's last two parts)", tag, final)
			}
		}
	}
	switch {
	case m == nil:
		c.omit(s, e.Line, "no <match> accepts tag %s (td-agent discarded these events); the forwarder ships them", tag)
	case !c.reachesTD(m):
		c.omit(s, e.Line, "tag %s went to <match %s> @type %s (line %d); the forwarder ships these events to its output", tag, m.Arg, m.Type(), m.Line)
	}
	if c.routing && !c.routed(tag) {
		// Shipped as the remark above says: a route of its own.
		r := newSection()
		r.set("match", str(tag), fmt.Sprintf("tail source line %d", e.Line))
		c.routes = append(c.routes, r)
	}
	s.set("tag", str(final), "")
	c.tailOptions(e, s, tag)
}

// routed reports whether a route written so far accepts tag.
func (c *converter) routed(tag string) bool {
	for _, r := range c.routes {
		if matchTag(r.get("match").Value, tag) {
			return true
		}
	}
	return false
}

// tailOptions converts the rest of a tail source, s holding its tag.
func (c *converter) tailOptions(e *Element, s *section, tag string) {
	final := s.get("tag").Value
	if c.tailTags == nil {
		c.tailTags = map[string]int{}
	}
	if c.tailTags[final]++; c.tailTags[final] > 1 {
		// The name defaults to the tag and keys the position file: unique.
		s.set("name", str(fmt.Sprintf("%s_%d", final, c.tailTags[final])), "a second source with this tag")
	}
	pc := parseSpec{}
	for _, p := range e.Params {
		switch p.Key {
		case "@type", "type", "tag":
		case "path":
			s.set("path", strs(splitList(p.Value)), "")
		case "exclude_path":
			s.set("exclude_path", strs(splitList(p.Value)), "")
		case "pos_file":
			s.set("takeover_pos_file", str(p.Value), "td-agent's positions, read once at the first start (never written)")
			c.note(s, p.Line, "pos_file %s: read once at the first start to take over td-agent's positions; the forwarder keeps its own position file under state_dir", p.Value)
		case "path_key":
			s.set("path_key", str(p.Value), "")
		case "read_from_head":
			b, err := parseBool(p.Value)
			if err != nil {
				c.omit(s, p.Line, "read_from_head: %v", err)
				continue
			}
			s.set("read_from_head", boolean(b), "")
		case "rotate_wait", "refresh_interval", "multiline_flush_interval":
			d, err := parseDuration(p.Value)
			if err != nil {
				c.omit(s, p.Line, "%s: %v", p.Key, err)
				continue
			}
			s.set(p.Key, dur(d), "")
		case "emit_unmatched_lines":
			c.note(s, p.Line, "emit_unmatched_lines: the forwarder always keeps unparsed lines as {\"unmatched_line\": ...}")
		case "enable_watch_timer", "enable_stat_watcher", "read_lines_limit", "read_bytes_limit_per_second",
			"open_on_every_update", "skip_refresh_on_startup", "ignore_repeated_permission_error", "pos_file_compaction_interval":
			c.note(s, p.Line, "%s %s: td-agent tuning with no forwarder equivalent (it watches with inotify and polls)", p.Key, p.Value)
		default:
			if c.noteIgnorable(s, p) {
				continue
			}
			if pc.take(p) {
				continue
			}
			c.omit(s, p.Line, "%s %s", p.Key, p.Value)
		}
	}
	for _, sub := range e.Elems {
		if sub.Name != "parse" {
			c.omit(s, sub.Line, "<%s> in a tail source", sub.Name)
			continue
		}
		pc.typ = sub.Type()
		for _, p := range sub.Params {
			if p.Key == "@type" || p.Key == "type" {
				continue
			}
			if !pc.take(p) {
				c.omit(s, p.Line, "<parse> %s %s", p.Key, p.Value)
			}
		}
		for _, x := range sub.Elems {
			c.omit(s, x.Line, "<parse><%s>", x.Name)
		}
	}
	ps, ok := c.parseSection(s, e.Line, pc)
	if !ok {
		c.omit(nil, e.Line, "<source> @type tail, tag %s: its format cannot be carried over; source skipped", tag)
		return
	}
	if err := checkParser(ps); err != nil {
		c.omit(nil, e.Line, "<source> @type tail, tag %s: the forwarder's parser refuses its format: %v; source skipped", tag, err)
		return
	}
	s.set("parse", ps.node, "")
	// The path first, as in the example configuration.
	reorder(s, "path")
	c.tails = append(c.tails, s)
}

// reorder moves key to the front of s.
func reorder(s *section, key string) {
	for i := 2; i+1 < len(s.node.Content); i += 2 {
		if s.node.Content[i].Value == key {
			k, v := s.node.Content[i], s.node.Content[i+1]
			rest := append(append([]*yamlNode{}, s.node.Content[:i]...), s.node.Content[i+2:]...)
			s.node.Content = append([]*yamlNode{k, v}, rest...)
			return
		}
	}
}

// parseSpec gathers a tail source's format (v0.12 "format" and its
// parameters at the source's level, or v1 <parse>).
type parseSpec struct {
	typ       string
	params    []Param
	firstline Param    // multiline: format_firstline
	lines     []string // multiline: format1, format2, ...
}

// parseKeys are the parser parameters carried over, by Fluentd name.
var parseKeys = map[string]bool{
	"time_format": true, "time_key": true, "keep_time_key": true, "keys": true, "delimiter": true,
	"label_delimiter": true, "types": true, "null_value_pattern": true, "null_empty_string": true,
	"timezone": true, "with_priority": true, "message_format": true, "message_key": true,
	"expression": true, "localtime": true, "utc": true, "estimate_current_event": true, "time_type": true,
}

// take keeps p when it belongs to the format.
func (pc *parseSpec) take(p Param) bool {
	if p.Key == "format" {
		pc.typ = p.Value
		return true
	}
	if p.Key == "format_firstline" {
		pc.firstline = p
		return true
	}
	if n, ok := strings.CutPrefix(p.Key, "format"); ok && n != "" && strings.Trim(n, "0123456789") == "" {
		i, _ := strconv.Atoi(n)
		if i >= 1 && i <= 20 {
			for len(pc.lines) < i {
				pc.lines = append(pc.lines, "")
			}
			pc.lines[i-1] = p.Value
			return true
		}
	}
	if parseKeys[p.Key] {
		pc.params = append(pc.params, p)
		return true
	}
	return false
}

// parseSection builds the parse: mapping; ok is false when the format has
// no forwarder parser.
func (c *converter) parseSection(s *section, line int, pc parseSpec) (*section, bool) {
	ps := newSection()
	switch t := pc.typ; {
	case t == "":
		c.note(s, line, "no format: td-agent requires one; the forwarder's default parser none is used")
		ps.set("type", str("none"), "")
	case strings.HasPrefix(t, "/"):
		ps.set("type", str("regexp"), "")
		ps.set("expression", str(goEscapes(t)), "")
	case t == "multiline":
		first, ok := rubyLiteral(pc.firstline.Value)
		if !ok {
			c.omit(s, line, "format multiline without a format_firstline /regexp/ (without flags)")
			return nil, false
		}
		var body strings.Builder
		for i, l := range pc.lines {
			re, ok := rubyLiteral(l)
			if !ok {
				c.omit(s, line, "format multiline: format%d is not a /regexp/ without flags", i+1)
				return nil, false
			}
			body.WriteString(re)
		}
		if body.Len() == 0 {
			c.omit(s, line, "format multiline without format1")
			return nil, false
		}
		s.set("multiline_start", str(goEscapes(first)), "format_firstline")
		ps.set("type", str("regexp"), "format1..N joined, as Fluentd's multiline parser does")
		ps.set("expression", str(goEscapes("/"+body.String()+"/m")), "")
		c.note(s, line, "format multiline: format_firstline is multiline_start, format1..N one regexp (dot matches newline), lines joined with \\n as in Fluentd")
	case t == "apache":
		ps.set("type", str("regexp"), "Fluentd's apache parser")
		ps.set("expression", str(apacheRegexp), "")
		ps.set("time_format", str(apacheTime), "")
	case t == "apache2", t == "apache_error", t == "nginx", t == "json", t == "ltsv", t == "csv", t == "tsv",
		t == "syslog", t == "regexp", t == "none":
		ps.set("type", str(t), "")
	default:
		c.omit(s, line, "format %s: no such parser in the forwarder (apache, apache2, apache_error, nginx, json, ltsv, csv, tsv, syslog, regexp and none are)", t)
		return nil, false
	}
	for _, p := range pc.params {
		switch p.Key {
		case "time_format", "time_key", "delimiter", "label_delimiter", "types", "null_value_pattern", "message_key", "timezone":
			if ps.get(p.Key) == nil {
				ps.set(p.Key, str(p.Value), "")
			}
		case "expression":
			if ps.get("expression") == nil {
				ps.set("expression", str(goEscapes(p.Value)), "")
			}
		case "keys":
			ps.set("keys", strs(splitList(p.Value)), "")
		case "keep_time_key", "null_empty_string", "with_priority":
			b, err := parseBool(p.Value)
			if err != nil {
				c.omit(s, p.Line, "%s: %v", p.Key, err)
				continue
			}
			ps.set(p.Key, boolean(b), "")
		case "message_format":
			ps.set("format", str(p.Value), "")
		case "utc", "localtime":
			b, err := parseBool(p.Value)
			if err != nil {
				c.omit(s, p.Line, "%s: %v", p.Key, err)
				continue
			}
			if b == (p.Key == "utc") {
				ps.set("timezone", str("UTC"), "")
			}
		default:
			c.omit(s, p.Line, "%s %s (parser)", p.Key, p.Value)
		}
	}
	return ps, true
}

// listenAddr builds bind:port with Fluentd's defaults (bind 0.0.0.0).
func listenAddr(e *Element, defPort string) string {
	bind, ok := e.Get("bind")
	if !ok || bind == "" {
		bind = "0.0.0.0"
	}
	port, ok := e.Get("port")
	if !ok || port == "" {
		port = defPort
	}
	return net.JoinHostPort(bind, port)
}

// convertHTTP converts a <source> @type http (Fluentd's default port 9880).
func (c *converter) convertHTTP(e *Element) {
	if c.http != nil {
		c.omit(nil, e.Line, "a second <source> @type http: the forwarder has one http input")
		return
	}
	s := newSection()
	c.http = s
	s.set("addr", str(listenAddr(e, "9880")), "")
	if _, ok := e.Get("bind"); !ok {
		c.note(s, e.Line, "bind: Fluentd's default 0.0.0.0 is kept (the forwarder's own default is 127.0.0.1)")
	}
	for _, p := range e.Params {
		switch p.Key {
		case "@type", "type", "port", "bind":
		case "body_size_limit":
			n, err := parseSize(p.Value)
			if err != nil {
				c.omit(s, p.Line, "body_size_limit: %v", err)
				continue
			}
			s.set("max_body_bytes", num(n), "")
		case "keepalive_timeout":
			d, err := parseDuration(p.Value)
			if err != nil {
				c.omit(s, p.Line, "keepalive_timeout: %v", err)
				continue
			}
			s.set("idle_timeout", dur(d), "")
		default:
			if c.noteIgnorable(s, p) {
				continue
			}
			c.omit(s, p.Line, "%s %s", p.Key, p.Value)
		}
	}
	for _, sub := range e.Elems {
		c.omit(s, sub.Line, "<%s> in an http source", sub.Name)
	}
	c.tagRule(s, e, "http")
}

// convertForward converts a <source> @type forward (port 24224).
func (c *converter) convertForward(e *Element) {
	if c.forward != nil {
		c.omit(nil, e.Line, "a second <source> @type forward: the forwarder has one forward input")
		return
	}
	s := newSection()
	c.forward = s
	s.set("addr", str(listenAddr(e, "24224")), "")
	if _, ok := e.Get("bind"); !ok {
		c.note(s, e.Line, "bind: Fluentd's default 0.0.0.0 is kept (the forwarder's own default is 127.0.0.1)")
	}
	for _, p := range e.Params {
		switch p.Key {
		case "@type", "type", "port", "bind":
		case "chunk_size_limit":
			n, err := parseSize(p.Value)
			if err != nil {
				c.omit(s, p.Line, "chunk_size_limit: %v", err)
				continue
			}
			s.set("max_message_bytes", num(n), "")
		default:
			if c.noteIgnorable(s, p) {
				continue
			}
			c.omit(s, p.Line, "%s %s", p.Key, p.Value)
		}
	}
	for _, sub := range e.Elems {
		if sub.Name != "security" {
			c.omit(s, sub.Line, "<%s> in a forward source", sub.Name)
			continue
		}
		auth := false
		for _, p := range sub.Params {
			switch p.Key {
			case "shared_key":
				s.set("shared_key", str(p.Value), "")
			case "self_hostname":
				s.set("self_hostname", str(p.Value), "")
			case "user_auth":
				auth, _ = parseBool(p.Value)
			default:
				c.omit(s, p.Line, "<security> %s %s", p.Key, p.Value)
			}
		}
		var users []*section
		for _, u := range sub.Elems {
			if u.Name != "user" {
				c.omit(s, u.Line, "<security><%s>", u.Name)
				continue
			}
			us := newSection()
			name, _ := u.Get("username")
			pw, _ := u.Get("password")
			us.set("username", str(name), "")
			us.set("password", str(pw), "")
			users = append(users, us)
		}
		if auth && len(users) > 0 {
			seq := &yamlNode{Kind: sequenceKind}
			for _, u := range users {
				seq.Content = append(seq.Content, u.finish())
			}
			s.set("users", seq, "")
		} else if len(users) > 0 {
			c.note(s, sub.Line, "<user> sections without user_auth true are not used by Fluentd either")
		}
	}
	c.tagRule(s, e, "forward")
}

// tagRule remarks on the tags an http or forward input accepts: the
// forwarder stores td.<db>.<table> tags and refuses others (no ack, 400),
// where td-agent routed by <match>.
func (c *converter) tagRule(s *section, e *Element, kind string) {
	if c.tdMatch == nil {
		c.omit(s, e.Line, "events received here went to outputs the forwarder does not have; it accepts td.<database>.<table> tags only and refuses others (counted)")
		return
	}
	if !c.routing && c.tdPattern != "td.*.*" {
		c.omit(s, e.Line, "<match %s> sent %s events to tdlog by their tag's last two parts; the forwarder accepts td.<database>.<table> tags only and refuses others (counted) until routes exist (issue 13). The route would read:\n  routes:\n    - match: %q\n      output: td", c.tdPattern, kind, c.tdPattern)
	}
}

// convertMonitor converts <source> @type monitor_agent to monitor.addr
// (Fluentd's default port 24220).
func (c *converter) convertMonitor(e *Element) {
	s := newSection()
	c.monitor = s
	s.set("addr", str(listenAddr(e, "24220")), "/api/plugins.json and /metrics")
	for _, p := range e.Params {
		switch p.Key {
		case "@type", "type", "port", "bind":
		default:
			c.omit(s, p.Line, "monitor_agent %s %s", p.Key, p.Value)
		}
	}
}

// checkParser builds the forwarder's parser from the parse: mapping, so a
// format it refuses (a Ruby-only regexp construct) is reported here.
func checkParser(ps *section) error {
	var pcfg parser.Config
	if err := ps.node.Decode(&pcfg); err != nil {
		return fmt.Errorf("decode parse: %w", err)
	}
	if _, err := parser.New(pcfg); err != nil {
		return fmt.Errorf("parser: %w", err)
	}
	return nil
}

// goEscapes rewrites Ruby's \uXXXX escapes of a regexp as RE2's \x{XXXX}
// (the same character); everything else is left as written.
func goEscapes(re string) string {
	var b strings.Builder
	for i := 0; i < len(re); i++ {
		if re[i] != '\\' || i+1 == len(re) {
			b.WriteByte(re[i])
			continue
		}
		if re[i+1] == 'u' && i+6 <= len(re) && isHex(re[i+2:i+6]) {
			b.WriteString(`\x{` + re[i+2:i+6] + "}")
			i += 5
			continue
		}
		b.WriteString(re[i : i+2])
		i++
	}
	return b.String()
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// rubyLiteral returns the pattern of a Ruby regexp literal /re/ without
// flags; ok is false for anything else.
func rubyLiteral(v string) (string, bool) {
	if len(v) < 2 || v[0] != '/' || v[len(v)-1] != '/' {
		return "", false
	}
	return v[1 : len(v)-1], true
}
