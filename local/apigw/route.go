package apigw

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultRouteKey is the catch-all route key.
const DefaultRouteKey = "$default"

var methods = map[string]bool{
	"ANY": true, "GET": true, "POST": true, "PUT": true, "DELETE": true,
	"PATCH": true, "HEAD": true, "OPTIONS": true,
}

type segKind int

const (
	segGreedy  segKind = iota // {name+}: one or more trailing segments
	segParam                  // {name}: exactly one segment
	segLiteral                // text: equal segment
)

type segment struct {
	kind segKind
	text string // literal text or parameter name
}

// route is a parsed route key.
type route struct {
	key     string
	method  string // "" for $default
	segs    []segment
	invoke  InvokeFunc
	timeout time.Duration
}

// parseRoute parses "METHOD /path/{param}/{proxy+}" or "$default".
func parseRoute(key string) (*route, error) {
	if key == DefaultRouteKey {
		return &route{key: key}, nil
	}
	method, path, ok := strings.Cut(key, " ")
	if !ok {
		return nil, fmt.Errorf("route key %q: want \"METHOD /path\" or \"$default\"", key)
	}
	if !methods[method] {
		return nil, fmt.Errorf("route key %q: unknown method %q", key, method)
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("route key %q: path must start with /", key)
	}
	rt := &route{key: key, method: method}
	if path == "/" {
		return rt, nil
	}
	seen := map[string]bool{}
	parts := strings.Split(path[1:], "/")
	for i, p := range parts {
		switch {
		case p == "":
			return nil, fmt.Errorf("route key %q: empty path segment", key)
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			name := p[1 : len(p)-1]
			kind := segParam
			if strings.HasSuffix(name, "+") {
				if i != len(parts)-1 {
					return nil, fmt.Errorf("route key %q: greedy variable %s must be last", key, p)
				}
				name, kind = strings.TrimSuffix(name, "+"), segGreedy
			}
			if name == "" || strings.ContainsAny(name, "{}+") {
				return nil, fmt.Errorf("route key %q: bad path variable %s", key, p)
			}
			if seen[name] {
				return nil, fmt.Errorf("route key %q: duplicate path variable %s", key, name)
			}
			seen[name] = true
			rt.segs = append(rt.segs, segment{kind: kind, text: name})
		case strings.ContainsAny(p, "{}"):
			return nil, fmt.Errorf("route key %q: bad path segment %s", key, p)
		default:
			rt.segs = append(rt.segs, segment{kind: segLiteral, text: p})
		}
	}
	return rt, nil
}

var errNoMatch = errors.New("no match")

// match reports whether rt matches method and the escaped path, and the
// decoded path parameters.
func (rt *route) match(method, escapedPath string) (map[string]string, error) {
	if rt.method == "" {
		return nil, nil
	}
	if rt.method != "ANY" && rt.method != method {
		return nil, errNoMatch
	}
	trimmed := strings.TrimPrefix(escapedPath, "/")
	var parts []string
	if trimmed != "" {
		parts = strings.Split(trimmed, "/")
	}
	var params map[string]string
	set := func(k, v string) {
		if params == nil {
			params = map[string]string{}
		}
		params[k] = v
	}
	for i, s := range rt.segs {
		if s.kind == segGreedy {
			if i >= len(parts) {
				return nil, errNoMatch
			}
			v, err := url.PathUnescape(strings.Join(parts[i:], "/"))
			if err != nil || v == "" {
				return nil, errNoMatch
			}
			set(s.text, v)
			return params, nil
		}
		if i >= len(parts) {
			return nil, errNoMatch
		}
		v, err := url.PathUnescape(parts[i])
		if err != nil || v == "" {
			return nil, errNoMatch
		}
		switch s.kind {
		case segLiteral:
			if v != s.text {
				return nil, errNoMatch
			}
		case segParam:
			set(s.text, v)
		}
	}
	if len(parts) != len(rt.segs) {
		return nil, errNoMatch
	}
	return params, nil
}

// moreSpecific reports whether a should win over b when both match:
// segment by segment, literal beats variable beats greedy; then a longer
// path; then a named method beats ANY; $default loses to everything.
func moreSpecific(a, b *route) bool {
	if (a.method == "") != (b.method == "") {
		return b.method == ""
	}
	for i := 0; i < len(a.segs) && i < len(b.segs); i++ {
		if a.segs[i].kind != b.segs[i].kind {
			return a.segs[i].kind > b.segs[i].kind
		}
	}
	if len(a.segs) != len(b.segs) {
		return len(a.segs) > len(b.segs)
	}
	return a.method != "ANY" && b.method == "ANY"
}
