package route

import (
	"fmt"
	"regexp"
	"strings"
)

// Pattern is a compiled Fluentd <match> pattern: one or more
// space-separated globs where "*" matches one tag part, "**" zero or more
// parts, "{a,b}" either alternative (nestable) and "\" escapes the next
// character. A tag matches when any glob matches all of it.
type Pattern struct {
	src string
	re  *regexp.Regexp
}

// CompilePattern compiles a Fluentd match pattern (Fluentd's
// GlobMatchPattern rules, compiled to one anchored regexp).
func CompilePattern(s string) (*Pattern, error) {
	globs := strings.Fields(s)
	if len(globs) == 0 {
		return nil, fmt.Errorf("match pattern %q is empty", s)
	}
	alts := make([]string, 0, len(globs))
	for _, g := range globs {
		re, err := globRegexp(g)
		if err != nil {
			return nil, fmt.Errorf("match pattern %q: %w", s, err)
		}
		alts = append(alts, re)
	}
	re, err := regexp.Compile(`\A(?:` + strings.Join(alts, "|") + `)\z`)
	if err != nil {
		return nil, fmt.Errorf("match pattern %q: %w", s, err)
	}
	return &Pattern{src: s, re: re}, nil
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.src }

// Match reports whether tag matches the pattern.
func (p *Pattern) Match(tag string) bool { return p.re.MatchString(tag) }

// globRegexp translates one glob the way Fluentd's GlobMatchPattern does:
// a "." is emitted lazily so that "a.**" also matches "a" and "**.b" also
// matches "b".
func globRegexp(g string) (string, error) {
	var (
		stack [][]string // open braces: alternatives so far
		cur   strings.Builder
		dot   bool
	)
	for i := 0; i < len(g); i++ {
		c := g[i]
		if strings.HasPrefix(g[i:], "**") {
			// Fluentd emits (?![^.]) for a pending dot; RE2 has no
			// lookahead, so the dot is consumed by an equivalent form.
			followed := i+2 < len(g) && g[i+2] == '.'
			switch {
			case dot && followed: // a.**.b: a.b, a.x.b, a.x.y.b
				cur.WriteString(`\.(?:.*\.)?`)
			case dot: // a.**: a, a.x, a.x.y
				cur.WriteString(`(?:\.|\z).*`)
			case followed: // **.b: b, x.b
				cur.WriteString(`(?:.*\.|\A)`)
			default:
				cur.WriteString(`.*`)
			}
			dot = false
			if followed {
				i += 2
			} else {
				i++
			}
			continue
		}
		if dot {
			cur.WriteString(`\.`)
			dot = false
		}
		switch c {
		case '\\':
			if i+1 == len(g) {
				return "", fmt.Errorf("trailing escape in %q", g)
			}
			i++
			cur.WriteString(regexp.QuoteMeta(g[i : i+1]))
		case '.':
			dot = true
		case '*':
			cur.WriteString(`[^.]*`)
		case '{':
			stack = append(stack, []string{cur.String()})
			cur.Reset()
		case ',':
			if len(stack) == 0 {
				cur.WriteString(`,`)
				continue
			}
			top := len(stack) - 1
			stack[top] = append(stack[top], cur.String())
			cur.Reset()
		case '}':
			if len(stack) == 0 {
				return "", fmt.Errorf("unbalanced } in %q", g)
			}
			top := len(stack) - 1
			alts := append(stack[top][1:], cur.String())
			prefix := stack[top][0]
			stack = stack[:top]
			cur.Reset()
			cur.WriteString(prefix + `(?:` + strings.Join(alts, "|") + `)`)
		default:
			cur.WriteString(regexp.QuoteMeta(g[i : i+1]))
		}
	}
	if len(stack) != 0 {
		return "", fmt.Errorf("unbalanced { in %q", g)
	}
	if dot {
		cur.WriteString(`\.`)
	}
	return cur.String(), nil
}
