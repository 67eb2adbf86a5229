package convert

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// convertForwardOutput converts a forward output (out_forward): m is the
// <match>, e the element holding its parameters (m itself or a copy
// <store>). It returns the output's name, as convertTdlog does.
func (c *converter) convertForwardOutput(m, e *Element, where string) string {
	var addrs []string
	for _, s := range e.Elems {
		if s.Name == "server" {
			h, _ := s.Get("host")
			p, _ := s.Get("port")
			addrs = append(addrs, h+":"+p)
		}
	}
	id := "forward\x00" + strings.Join(addrs, ",")
	if name, ok := c.outIDs[id]; ok {
		return name
	}
	o, b, name, done := c.newOutput(e, where, "forward")
	defer done()
	if c.outIDs == nil {
		c.outIDs = map[string]string{}
	}
	c.outIDs[id] = name
	o.set("type", str("forward"), "")
	f := newSection()
	o.set("forward", f.node, "")
	defer f.finish()
	servers := &yaml.Node{Kind: yaml.SequenceNode}
	f.set("servers", servers, "")
	ack := false
	for _, p := range e.Params {
		switch p.Key {
		case "@type", "type":
		case "@id":
			if name == "default" {
				c.note(o, p.Line, "%s %s: %s", p.Key, p.Value, ignorable[p.Key])
			}
		case "require_ack_response", "time_as_integer":
			v, err := parseBool(p.Value)
			if err != nil {
				c.omit(f, p.Line, "%s: %v", p.Key, err)
				continue
			}
			f.set(p.Key, boolean(v), "")
			if p.Key == "require_ack_response" {
				ack = true
				if !v {
					c.note(f, p.Line, "require_ack_response false: chunks leave the buffer once written to the socket; an aggregator dying then loses them (as with td-agent)")
				}
			}
		case "ack_response_timeout", "send_timeout", "connect_timeout", "heartbeat_interval", "recover_wait", "expire_dns_cache":
			d, err := parseDuration(p.Value)
			if err != nil {
				c.omit(f, p.Line, "%s: %v", p.Key, err)
				continue
			}
			f.set(p.Key, dur(d), "")
		case "compress":
			if p.Value != "text" && p.Value != "gzip" {
				c.omit(f, p.Line, "compress %s: text or gzip", p.Value)
				continue
			}
			f.set("compress", str(p.Value), "")
		case "heartbeat_type":
			switch p.Value {
			case "tcp", "transport", "none":
				f.set("heartbeat_type", str(p.Value), "")
			case "udp":
				f.set("heartbeat_type", str("tcp"), "heartbeat_type udp")
				c.note(f, p.Line, "heartbeat_type udp: the forwarder's heartbeats are TCP connections (udp is deprecated in Fluentd v1)")
			default:
				c.omit(f, p.Line, "heartbeat_type %s", p.Value)
			}
		case "transport":
			if p.Value == "tls" {
				f.child("tls")
			} else if p.Value != "tcp" {
				c.omit(f, p.Line, "transport %s", p.Value)
			}
		case "tls_cert_path":
			if l := splitList(p.Value); len(l) > 0 {
				f.child("tls").set("ca_file", str(l[0]), "tls_cert_path")
				if len(l) > 1 {
					c.omit(f, p.Line, "tls_cert_path: only the first CA file is used; concatenate %s into one", strings.Join(l, ", "))
				}
			}
		case "tls_client_cert_path":
			f.child("tls").set("cert_file", str(p.Value), "")
		case "tls_client_private_key_path":
			f.child("tls").set("key_file", str(p.Value), "")
		case "tls_insecure_mode":
			if v, err := parseBool(p.Value); err == nil && v {
				f.child("tls").set("insecure_skip_verify", boolean(true), "tls_insecure_mode")
			}
		case "tls_verify_hostname", "tls_allow_self_signed_cert", "tls_version", "tls_ciphers", "tls_cert_thumbprint", "tls_cert_logical_store_name", "tls_cert_use_enterprise_store":
			c.omit(f, p.Line, "%s %s: the forwarder verifies the server certificate and host name against tls.ca_file (or the system roots) unless tls.insecure_skip_verify", p.Key, p.Value)
		case "phi_threshold", "phi_failure_detector", "hard_timeout":
			c.note(f, p.Line, "%s %s: a server is marked down when a send or a heartbeat fails, and up after answering heartbeats for recover_wait", p.Key, p.Value)
		case "keepalive", "keepalive_timeout":
			c.note(f, p.Line, "%s %s: the forwarder opens a connection per chunk", p.Key, p.Value)
		case "ignore_network_errors_at_startup", "verify_connection_at_startup":
			c.note(f, p.Line, "%s %s: servers that cannot be reached are marked down and retried; start-up never fails on them", p.Key, p.Value)
		case "buffer_type":
			c.note(b, p.Line, "buffer_type %s: the forwarder always buffers on disk (checksummed, fsynced) under state_dir", p.Value)
		case "buffer_path":
			c.note(b, p.Line, "buffer_path %s: the forwarder's buffer lives under state_dir; td-agent's buffered chunks are not read (let td-agent flush before the cutover)", p.Value)
		default:
			if c.noteIgnorable(o, p) {
				continue
			}
			c.bufferParam(f, b, p, "")
		}
	}
	if !ack {
		f.set("require_ack_response", boolean(true), "the forwarder's default (Fluentd's is false): a chunk leaves the buffer only after the aggregator's ack")
	}
	for _, sub := range e.Elems {
		switch sub.Name {
		case "server":
			servers.Content = append(servers.Content, c.forwardServer(f, sub))
		case "security":
			c.forwardSecurity(f, sub)
		case "buffer":
			for _, p := range sub.Params {
				switch p.Key {
				case "@type", "type":
					c.note(b, p.Line, "<buffer> @type %s: the forwarder always buffers on disk (checksummed, fsynced) under state_dir", p.Value)
				case "path":
					c.note(b, p.Line, "<buffer> path %s: the forwarder's buffer lives under state_dir; td-agent's buffered chunks are not read (let td-agent flush before the cutover)", p.Value)
				default:
					c.bufferParam(f, b, p, "<buffer> ")
				}
			}
		case "secondary":
			if t := sub.Type(); t == "" || t == "forward" {
				n := 0
				for _, ss := range sub.Elems {
					if ss.Name == "server" {
						srv := c.forwardServer(f, ss)
						if (&section{node: srv}).get("standby") == nil {
							srv.Content = append(srv.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "standby"}, boolean(true))
						}
						servers.Content = append(servers.Content, srv)
						n++
					}
				}
				if n > 0 {
					c.note(f, sub.Line, "<secondary> forward servers: carried as standby servers (used while no active server is available)")
					continue
				}
			}
			typ := ""
			if t := sub.Type(); t != "" {
				typ = " @type " + t
			}
			c.omit(f, sub.Line, "<secondary>%s: the forwarder retries every failure without limit (standby servers take over while the active ones are down)", typ)
		default:
			c.omit(f, sub.Line, "<%s> in forward", sub.Name)
		}
	}
	if len(servers.Content) == 0 {
		c.omit(f, m.Line, "%s @type forward has no <server>: add forward.servers", where)
	}
	return name
}

// forwardServer converts one <server>.
func (c *converter) forwardServer(f *section, s *Element) *yaml.Node {
	srv := newSection()
	for _, p := range s.Params {
		switch p.Key {
		case "host", "name", "shared_key", "username", "password":
			srv.set(p.Key, str(p.Value), "")
		case "port", "weight":
			n, err := strconv.Atoi(p.Value)
			if err != nil {
				c.omit(f, p.Line, "<server> %s %s: not a number", p.Key, p.Value)
				continue
			}
			srv.set(p.Key, num(int64(n)), "")
		case "standby":
			v, err := parseBool(p.Value)
			if err != nil {
				c.omit(f, p.Line, "<server> standby: %v", err)
				continue
			}
			srv.set("standby", boolean(v), "")
		default:
			c.omit(f, p.Line, "<server> %s %s", p.Key, p.Value)
		}
	}
	return srv.finish(true)
}

// forwardSecurity converts <security> (shared_key, self_hostname and the
// user of out_forward's handshake).
func (c *converter) forwardSecurity(f *section, s *Element) {
	for _, p := range s.Params {
		switch p.Key {
		case "shared_key", "self_hostname", "username", "password":
			if strings.Contains(p.Value, "#{") {
				if p.Key == "self_hostname" {
					c.note(f, p.Line, "<security> self_hostname %s: the forwarder sends this host's name by default", p.Value)
				} else {
					c.omit(f, p.Line, "<security> %s %s: embedded Ruby is not evaluated", p.Key, p.Value)
				}
				continue
			}
			f.set(p.Key, str(p.Value), "")
		default:
			c.omit(f, p.Line, "<security> %s %s", p.Key, p.Value)
		}
	}
	for _, sub := range s.Elems {
		c.omit(f, sub.Line, "<security><%s>", sub.Name)
	}
}

// forwardOutputs counts the forward outputs of m (m itself or copy's
// <store>s).
func forwardOutputs(m *Element) int { return storesOf(m, "forward") }
