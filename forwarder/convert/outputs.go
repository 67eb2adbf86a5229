package convert

import (
	"fmt"
	"regexp"
	"strings"
)

// convertMatch converts one <match>: tdlog (or the tdlog <store>s of copy)
// becomes an output and, when routing, a route; other outputs are remarked
// on.
func (c *converter) convertMatch(m *Element) {
	switch t := m.Type(); t {
	case "tdlog":
		c.addRoute(m, []string{c.convertTdlog(m, m, "<match "+m.Arg+">")})
	case "copy":
		for _, p := range m.Params {
			if p.Key != "@type" && p.Key != "type" {
				c.omit(nil, p.Line, "<match %s> copy: %s %s", m.Arg, p.Key, p.Value)
			}
		}
		var outs []string
		for _, st := range m.Elems {
			if st.Name != "store" {
				c.omit(nil, st.Line, "<match %s> copy: <%s>", m.Arg, st.Name)
				continue
			}
			switch st.Type() {
			case "tdlog":
				outs = append(outs, c.convertTdlog(m, st, "<match "+m.Arg+"> <store>"))
			case "forward":
				outs = append(outs, c.convertForwardOutput(m, st, "<match "+m.Arg+"> <store>"))
			default:
				c.omit(nil, st.Line, "<match %s> copy: <store> @type %s: the forwarder ships only to TD import endpoints and forward servers", m.Arg, st.Type())
			}
		}
		if len(outs) > 0 {
			c.addRoute(m, outs)
		}
	case "forward":
		c.addRoute(m, []string{c.convertForwardOutput(m, m, "<match "+m.Arg+">")})
	default:
		why := "events with these tags are refused by its http/forward inputs unless they are td.<database>.<table>"
		if c.routing {
			why = "events with these tags are not stored unless a route accepts them"
		}
		c.omit(nil, m.Line, "<match %s> @type %s: no such output in the forwarder (it ships to TD import endpoints and forward servers); %s", m.Arg, t, why)
	}
}

// tdStores counts the tdlog outputs of m (m itself or copy's <store>s);
// forwardOutputs counts its forward outputs.
func tdStores(m *Element) int { return storesOf(m, "tdlog") }

// storesOf counts the outputs of type typ in m: m itself, or its <store>s
// when m is a copy.
func storesOf(m *Element, typ string) int {
	switch m.Type() {
	case typ:
		return 1
	case "copy":
		n := 0
		for _, st := range m.Elems {
			if st.Name == "store" && st.Type() == typ {
				n++
			}
		}
		return n
	}
	return 0
}

// addRoute adds the route of a tdlog <match> (when routing) sending to
// outs, duplicates removed.
func (c *converter) addRoute(m *Element, outs []string) {
	if c.tdMatches == nil {
		c.tdMatches = map[*Element]bool{}
	}
	c.tdMatches[m] = true
	if c.tdMatch == nil {
		c.tdMatch, c.tdPattern = m, m.Arg
	}
	if !c.routing {
		return
	}
	r := newSection()
	r.set("match", str(m.Arg), fmt.Sprintf("<match> line %d", m.Line))
	// A pattern naming one tag: its database and table, written out.
	if !strings.ContainsAny(m.Arg, "*{} ") {
		if t, err := tdTag(m.Arg); err == nil {
			parts := strings.Split(t, ".")
			r.set("db", str(parts[1]), "")
			r.set("table", str(parts[2]), "")
		}
	}
	var uniq []string
	seen := map[string]bool{}
	for _, o := range outs {
		if !seen[o] {
			seen[o] = true
			uniq = append(uniq, o)
		}
	}
	if len(uniq) < len(outs) {
		c.note(r, m.Line, "<match %s> copy stored these events twice through the same endpoint and key; the route sends them once", m.Arg)
	}
	switch {
	case len(uniq) == 1 && uniq[0] == "default":
	case len(uniq) == 1:
		r.set("output", str(uniq[0]), "")
	default:
		r.set("output", strs(uniq), "copy")
	}
	c.routes = append(c.routes, r)
}

// convertTdlog converts a tdlog output: m is the <match>, e the element
// holding tdlog's parameters (m itself or a <store>). It returns the
// output's name: "default" (the output section) or a name under outputs:.
func (c *converter) convertTdlog(m, e *Element, where string) string {
	key, _ := e.Get("apikey")
	endpoint, _ := e.Get("endpoint")
	if v, ok := e.Get("import_endpoint"); ok {
		endpoint = v
	}
	id := key + "\x00" + endpoint
	if name, ok := c.outIDs[id]; ok {
		return name
	}
	o, b, name, done := c.newOutput(e, where, "td")
	defer done()
	if c.outIDs == nil {
		c.outIDs = map[string]string{}
	}
	c.outIDs[id] = name
	prim := o.child("primary")
	useSSL := true
	if v, ok := e.Get("use_ssl"); ok {
		ssl, err := parseBool(v)
		if err != nil {
			c.omit(o, e.Line, "use_ssl: %v", err)
		}
		useSSL = ssl
	}
	if endpoint == "" {
		endpoint = tdImportDefault
	}
	scheme := "https://"
	if !useSSL {
		scheme = "http://"
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = scheme + endpoint
	}
	prim.set("url", str(endpoint), "")
	switch sub := envRef.FindStringSubmatch(key); {
	case key == "":
		prim.set("api_key_env", str("TD_API_KEY"), "tdlog had no apikey: placeholder")
		c.omit(o, e.Line, "%s: no apikey", where)
	case sub != nil:
		prim.set("api_key_env", str(sub[1]), "")
	case strings.Contains(key, "#{"):
		prim.set("api_key_env", str("TD_API_KEY"), "placeholder")
		c.omit(o, e.Line, "apikey %s: embedded Ruby is not evaluated; set api_key_env or api_key_file", key)
	default:
		prim.set("api_key", str(key), "prefer api_key_file or api_key_env")
	}
	o.set("compression", str("gzip"), "msgpack.gz, as tdlog sends")
	b.set("compression", str("gzip"), "stored as it is sent to a TD endpoint")
	for _, p := range e.Params {
		switch p.Key {
		case "@type", "type", "apikey", "endpoint", "import_endpoint", "use_ssl":
		case "@id":
			if name != "default" {
				continue
			}
			c.note(o, p.Line, "%s %s: %s", p.Key, p.Value, ignorable[p.Key])
		case "auto_create_table":
			v, err := parseBool(p.Value)
			if err != nil {
				c.omit(o, p.Line, "auto_create_table: %v", err)
				continue
			}
			o.set("auto_create_table", boolean(v), "")
		case "buffer_type":
			c.note(b, p.Line, "buffer_type %s: the forwarder always buffers on disk (checksummed, fsynced) under state_dir", p.Value)
		case "buffer_path":
			c.note(b, p.Line, "buffer_path %s: the forwarder's buffer lives under state_dir; td-agent's buffered chunks are not read (let td-agent flush before the cutover)", p.Value)
		default:
			if c.noteIgnorable(o, p) {
				continue
			}
			c.bufferParam(o, b, p, "")
		}
	}
	for _, sub := range e.Elems {
		switch sub.Name {
		case "buffer":
			for _, p := range sub.Params {
				switch p.Key {
				case "@type", "type":
					c.note(b, p.Line, "<buffer> @type %s: the forwarder always buffers on disk (checksummed, fsynced) under state_dir", p.Value)
				case "path":
					c.note(b, p.Line, "<buffer> path %s: the forwarder's buffer lives under state_dir; td-agent's buffered chunks are not read (let td-agent flush before the cutover)", p.Value)
				default:
					c.bufferParam(o, b, p, "<buffer> ")
				}
			}
			if sub.Arg != "" && sub.Arg != "tag" {
				c.note(b, sub.Line, "<buffer %s>: chunk keys; the forwarder keeps one chunk per database and table", sub.Arg)
			}
		case "secondary":
			c.omit(o, sub.Line, "<secondary> @type %s: the forwarder keeps chunks the endpoint refuses for their content in <state_dir>/buffer/failed/ and retries every other failure without limit", sub.Type())
		default:
			c.omit(o, sub.Line, "<%s> in tdlog", sub.Name)
		}
	}
	return name
}

// newOutput makes the section of a converted output: the output section
// (name "default") for the first, an outputs: entry (named after its @id,
// or prefix and a number) for the others. b is where its buffer settings
// go; done remarks on those that differ from the buffer section, which
// every output shares.
func (c *converter) newOutput(e *Element, where, prefix string) (o, b *section, name string, done func()) {
	if c.output == nil {
		o = newSection()
		c.output = o
		if c.buffer == nil {
			c.buffer = newSection()
		}
		return o, c.buffer, "default", func() {}
	}
	name = fmt.Sprintf("%s%d", prefix, len(c.named)+2)
	if v, ok := e.Get("@id"); ok && validOutputName.MatchString(v) && v != "default" && !c.outputNamed(v) {
		name = v
	}
	o = newSection()
	o.set("name", str(name), where)
	b = newSection() // the buffer section is shared: compared in done
	c.named = append(c.named, o)
	return o, b, name, func() {
		for i := 0; i+1 < len(b.node.Content); i += 2 {
			k, v := b.node.Content[i].Value, b.node.Content[i+1]
			if k == "compression" {
				continue
			}
			if main := c.buffer.get(k); main == nil || main.Value != v.Value {
				c.omit(o, e.Line, "buffer %s %s of this output: the forwarder has one buffer section for every output", k, v.Value)
			}
		}
	}
}

// bufferParam carries a tdlog buffer or retry parameter (v0.12 names and
// v1 <buffer> names).
func (c *converter) bufferParam(o, b *section, p Param, where string) {
	setDur := func(s *section, key string) {
		d, err := parseDuration(p.Value)
		if err != nil {
			c.omit(s, p.Line, "%s%s: %v", where, p.Key, err)
			return
		}
		s.set(key, dur(d), where+p.Key)
	}
	setSize := func(key string) {
		n, err := parseSize(p.Value)
		if err != nil {
			c.omit(b, p.Line, "%s%s: %v", where, p.Key, err)
			return
		}
		b.set(key, num(n), fmt.Sprintf("%s%s %s", where, p.Key, p.Value))
	}
	switch p.Key {
	case "flush_interval":
		setDur(b, "flush_interval")
	case "buffer_chunk_limit", "chunk_limit_size":
		setSize("chunk_limit")
	case "total_limit_size":
		setSize("total_limit")
	case "retry_wait":
		setDur(o, "min_backoff")
	case "max_retry_wait", "retry_max_interval":
		setDur(o, "max_backoff")
	case "num_threads", "flush_thread_count":
		n, err := parseSize(p.Value)
		if err != nil || n < 1 || n > 64 {
			c.omit(o, p.Line, "%s%s %s: not in 1..64", where, p.Key, p.Value)
			return
		}
		o.set("concurrency", num(n), where+p.Key)
	case "flush_at_shutdown":
		c.note(b, p.Line, "%s%s: the forwarder ships at shutdown within shutdown_timeout and keeps the rest on disk", where, p.Key)
	case "disable_retry_limit", "retry_forever":
		c.note(o, p.Line, "%s%s: the forwarder retries without limit", where, p.Key)
	case "retry_limit", "retry_max_times", "retry_timeout":
		c.omit(o, p.Line, "%s%s %s: the forwarder never gives up on a chunk (it retries with backoff; only content refusals are parked)", where, p.Key, p.Value)
	case "buffer_queue_limit", "queue_limit_length":
		c.omit(b, p.Line, "%s%s %s: the forwarder limits the buffer by bytes on disk (buffer.total_limit)", where, p.Key, p.Value)
	default:
		c.omit(o, p.Line, "%s%s %s", where, p.Key, p.Value)
	}
}

// validOutputName is the forwarder's rule for outputs[].name.
var validOutputName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// outputNamed reports whether a named output called name exists.
func (c *converter) outputNamed(name string) bool {
	for _, o := range c.named {
		if n := o.get("name"); n != nil && n.Value == name {
			return true
		}
	}
	return false
}
