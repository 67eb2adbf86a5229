package convert

import "strings"

// matchTag reports whether tag matches a Fluentd <match> pattern: parts
// separated by dots, "*" one part, "**" zero or more parts, "{a,b}" either
// alternative; several patterns separated by spaces match if any does.
func matchTag(pattern, tag string) bool {
	for _, p := range strings.Fields(pattern) {
		for _, alt := range expandBraces(p) {
			if globParts(strings.Split(alt, "."), strings.Split(tag, ".")) {
				return true
			}
		}
	}
	return false
}

// expandBraces expands the first {a,b} group of p recursively (at most 64
// results, enough for any real pattern).
func expandBraces(p string) []string {
	i := strings.IndexByte(p, '{')
	j := strings.IndexByte(p, '}')
	if i < 0 || j < i {
		return []string{p}
	}
	var out []string
	for _, alt := range strings.Split(p[i+1:j], ",") {
		for _, x := range expandBraces(p[:i] + alt + p[j+1:]) {
			if len(out) < 64 {
				out = append(out, x)
			}
		}
	}
	return out
}

func globParts(pat, tag []string) bool {
	if len(pat) == 0 {
		return len(tag) == 0
	}
	if pat[0] == "**" {
		for k := 0; k <= len(tag); k++ {
			if globParts(pat[1:], tag[k:]) {
				return true
			}
		}
		return false
	}
	if len(tag) == 0 {
		return false
	}
	if !globPart(pat[0], tag[0]) {
		return false
	}
	return globParts(pat[1:], tag[1:])
}

// globPart matches one tag part against a pattern part where "*" matches
// any run of characters.
func globPart(p, s string) bool {
	if !strings.Contains(p, "*") {
		return p == s
	}
	pre, post, _ := strings.Cut(p, "*")
	if !strings.HasPrefix(s, pre) {
		return false
	}
	s = s[len(pre):]
	for k := 0; k <= len(s); k++ {
		if globPart(post, s[k:]) {
			return true
		}
	}
	return false
}
