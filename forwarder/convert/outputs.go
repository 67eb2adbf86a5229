package convert

import (
	"fmt"
	"strings"
)

// convertMatch converts one <match>: tdlog (or a tdlog <store> of copy)
// becomes the output; other outputs are remarked on.
func (c *converter) convertMatch(m *Element) {
	switch t := m.Type(); t {
	case "tdlog":
		c.convertTdlog(m, m, "<match "+m.Arg+">")
	case "copy":
		for _, p := range m.Params {
			if p.Key != "@type" && p.Key != "type" {
				c.omit(nil, p.Line, "<match %s> copy: %s %s", m.Arg, p.Key, p.Value)
			}
		}
		for _, st := range m.Elems {
			if st.Name != "store" {
				c.omit(nil, st.Line, "<match %s> copy: <%s>", m.Arg, st.Name)
				continue
			}
			if st.Type() == "tdlog" {
				c.convertTdlog(m, st, "<match "+m.Arg+"> <store>")
				continue
			}
			c.omit(nil, st.Line, "<match %s> copy: <store> @type %s: the forwarder ships only to TD import endpoints (several outputs per route: issue 13)", m.Arg, st.Type())
		}
	case "forward":
		c.convertForwardOut(m)
	default:
		c.omit(nil, m.Line, "<match %s> @type %s: no such output in the forwarder (it ships to TD import endpoints); events with these tags are refused by its http/forward inputs unless they are td.<database>.<table>", m.Arg, t)
	}
}

// convertTdlog converts a tdlog output: m is the <match>, e the element
// holding tdlog's parameters (m itself or a <store>).
func (c *converter) convertTdlog(m, e *Element, where string) {
	key, _ := e.Get("apikey")
	endpoint, _ := e.Get("endpoint")
	if v, ok := e.Get("import_endpoint"); ok {
		endpoint = v
	}
	id := key + "\x00" + endpoint
	if c.output != nil {
		if id == c.tdKey {
			c.omit(nil, m.Line, "%s: a second tdlog output to the same endpoint and key: the forwarder routes by tag td.<database>.<table> and needs no second one, but <match %s>'s tags reach it only if they are td.<database>.<table> (routes: issue 13)", where, m.Arg)
		} else {
			c.omit(nil, m.Line, "%s: a second tdlog output to another endpoint or key: several outputs are not in this forwarder's schema yet (issue 13)", where)
		}
		return
	}
	c.tdMatch, c.tdPattern, c.tdKey = m, m.Arg, id
	o := newSection()
	c.output = o
	if c.buffer == nil {
		c.buffer = newSection()
	}
	b := c.buffer
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
			if why, ok := ignorable[p.Key]; ok {
				c.note(o, p.Line, "%s %s: %s", p.Key, p.Value, why)
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

// convertForwardOut remarks on a forward output: the forwarder ships to
// TD import endpoints only.
func (c *converter) convertForwardOut(m *Element) {
	var servers []string
	for _, s := range m.Elems {
		if s.Name != "server" {
			if s.Name == "secondary" {
				c.omit(nil, s.Line, "<match %s> forward: <secondary>", m.Arg)
			}
			continue
		}
		host, _ := s.Get("host")
		port, ok := s.Get("port")
		if !ok {
			port = "24224"
		}
		d := host + ":" + port
		if _, sb := s.Get("standby"); sb {
			d += " (standby)"
		}
		servers = append(servers, d)
	}
	var params []string
	for _, p := range m.Params {
		if p.Key != "@type" && p.Key != "type" {
			params = append(params, strings.TrimSpace(p.Key+" "+p.Value))
		}
	}
	c.omit(nil, m.Line, "<match %s> @type forward to %s%s: the forwarder has no forward output (it ships to TD import endpoints with output.primary and output.standby); send to the TD endpoint the aggregators write to instead",
		m.Arg, strings.Join(servers, ", "), paramList(params))
}

func paramList(p []string) string {
	if len(p) == 0 {
		return ""
	}
	return " [" + strings.Join(p, "; ") + "]"
}
