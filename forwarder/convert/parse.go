package convert

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Element is one section of a Fluentd configuration (<source>, <match
// pattern>, <parse>, <server>, ...) or the whole file (Name "").
type Element struct {
	Name   string     // source, match, filter, store, buffer, parse, server, security, ...
	Arg    string     // the pattern of <match pattern>, the type of <transport tls>, ...
	Line   int        // where the section opens (1-based)
	Params []Param    // key value lines, in order
	Elems  []*Element // nested sections, in order
}

// Param is one "key value" line.
type Param struct {
	Key   string
	Value string // unquoted; "" for a bare key (a flag such as auto_create_table)
	Line  int
}

// Get returns the value of key and whether it is set; "@type" and "type"
// are the same key. A key given twice takes its last value, as in Fluentd.
func (e *Element) Get(key string) (string, bool) {
	for i := len(e.Params) - 1; i >= 0; i-- {
		p := e.Params[i]
		if p.Key == key || key == "@type" && p.Key == "type" || key == "type" && p.Key == "@type" {
			return p.Value, true
		}
	}
	return "", false
}

// Type returns the plugin type (@type or type).
func (e *Element) Type() string {
	v, _ := e.Get("@type")
	return v
}

// ErrSyntax is returned (wrapped, with the line) for text that is not a
// Fluentd configuration.
var ErrSyntax = errors.New("syntax error")

// Parse reads a Fluentd v0.12 or v1 configuration: sections "<name arg>"
// ... "</name>", "key value" lines, "#" comments, double- or single-quoted
// values (double quotes take Fluentd's escapes; a double-quoted value may
// span lines), and "@include" directives (kept as params of the element
// they appear in, for the converter to report). Embedded Ruby ("#{...}")
// is kept verbatim.
func Parse(data []byte) (*Element, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: the configuration is not UTF-8 text", ErrSyntax)
	}
	root := &Element{}
	stack := []*Element{root}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || line[0] == '#' {
			continue
		}
		cur := stack[len(stack)-1]
		switch {
		case strings.HasPrefix(line, "</"):
			end := strings.IndexByte(line, '>')
			if end < 0 {
				return nil, fmt.Errorf("line %d: %w: %q lacks '>'", n, ErrSyntax, line)
			}
			name := strings.TrimSpace(line[2:end])
			if len(stack) == 1 {
				return nil, fmt.Errorf("line %d: %w: </%s> closes no section", n, ErrSyntax, name)
			}
			if name != cur.Name {
				return nil, fmt.Errorf("line %d: %w: </%s> closes <%s> of line %d", n, ErrSyntax, name, cur.Name, cur.Line)
			}
			if rest := strings.TrimSpace(line[end+1:]); rest != "" && rest[0] != '#' {
				return nil, fmt.Errorf("line %d: %w: text after </%s>", n, ErrSyntax, name)
			}
			stack = stack[:len(stack)-1]
		case line[0] == '<':
			end := strings.LastIndexByte(line, '>')
			if end < 0 {
				return nil, fmt.Errorf("line %d: %w: %q lacks '>'", n, ErrSyntax, line)
			}
			if rest := strings.TrimSpace(line[end+1:]); rest != "" && rest[0] != '#' {
				return nil, fmt.Errorf("line %d: %w: text after the section header", n, ErrSyntax)
			}
			name, arg, _ := strings.Cut(strings.TrimSpace(line[1:end]), " ")
			if name == "" {
				return nil, fmt.Errorf("line %d: %w: empty section name", n, ErrSyntax)
			}
			e := &Element{Name: name, Arg: strings.TrimSpace(arg), Line: n}
			cur.Elems = append(cur.Elems, e)
			stack = append(stack, e)
		default:
			key, rest, _ := strings.Cut(line, " ")
			if k, r, ok := strings.Cut(key, "\t"); ok {
				key, rest = k, r+" "+rest
			}
			val, used, err := parseValue(strings.TrimSpace(rest), lines[i+1:])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			cur.Params = append(cur.Params, Param{Key: key, Value: val, Line: n})
			i += used
		}
	}
	if len(stack) > 1 {
		open := stack[len(stack)-1]
		return nil, fmt.Errorf("line %d: %w: <%s> is never closed", open.Line, ErrSyntax, open.Name)
	}
	return root, nil
}

// parseValue reads a value starting at s; more holds the following lines,
// for a double-quoted value that spans lines. used is how many of them it
// took.
func parseValue(s string, more []string) (val string, used int, err error) {
	if s == "" {
		return "", 0, nil
	}
	switch s[0] {
	case '"':
		text := s
		for {
			if v, rest, ok := closeDouble(text); ok {
				if r := strings.TrimSpace(rest); r != "" && r[0] != '#' {
					return "", 0, fmt.Errorf("%w: text after a quoted value", ErrSyntax)
				}
				return v, used, nil
			}
			if used == len(more) || used >= 1000 {
				return "", 0, fmt.Errorf("%w: unterminated double-quoted value", ErrSyntax)
			}
			text += "\n" + more[used]
			used++
		}
	case '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", 0, fmt.Errorf("%w: unterminated single-quoted value", ErrSyntax)
		}
		return s[1 : 1+end], 0, nil
	}
	// Unquoted: a " #" starts a comment, except in a /regexp/.
	if s[0] != '/' {
		if i := strings.Index(s, " #"); i >= 0 && !strings.Contains(s[:i+2], "#{") {
			s = strings.TrimSpace(s[:i])
		}
	}
	return s, 0, nil
}

// closeDouble reads a double-quoted string at the start of s (s[0] is '"'),
// with Ruby's escapes (\" \\ \n \t \r); embedded Ruby "#{...}" is kept as
// written. ok is false when s holds no closing quote.
func closeDouble(s string) (val, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], true
		case '\\':
			if i+1 == len(s) {
				return "", "", false
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// parseBool reads a Fluentd bool: a bare key, true/yes are true.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "true", "yes":
		return true, nil
	case "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a bool", v)
}

// parseSize reads a Fluentd size: a number of bytes with an optional k, m,
// g or t suffix (powers of 1024, either case).
func parseSize(v string) (int64, error) {
	mult := int64(1)
	s := strings.TrimSpace(v)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%q is not a size", v)
	}
	return int64(f * float64(mult)), nil
}

// parseDuration reads a Fluentd time: a number of seconds with an optional
// s, m, h or d suffix.
func parseDuration(v string) (string, error) {
	s := strings.TrimSpace(v)
	unit := "s"
	if s != "" {
		switch c := s[len(s)-1]; c {
		case 's', 'm', 'h', 'd':
			unit, s = string(c), s[:len(s)-1]
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return "", fmt.Errorf("%q is not a duration", v)
	}
	if unit == "d" {
		f, unit = f*24, "h"
	}
	return strconv.FormatFloat(f, 'f', -1, 64) + unit, nil
}
