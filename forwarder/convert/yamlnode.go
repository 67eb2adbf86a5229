package convert

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// section is a YAML mapping being built, with the remarks to write above it.
type section struct {
	node    *yaml.Node
	remarks []string
}

func newSection() *section { return &section{node: &yaml.Node{Kind: yaml.MappingNode}} }

// set adds key: v to s, with an optional comment after the value; a key
// set again takes the new value (Fluentd's last one wins).
func (s *section) set(key string, v *yaml.Node, comment string) {
	if comment != "" {
		v.LineComment = "# " + printable(comment)
	}
	for i := 0; i+1 < len(s.node.Content); i += 2 {
		if s.node.Content[i].Value == key {
			s.node.Content[i+1] = v
			return
		}
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	s.node.Content = append(s.node.Content, k, v)
}

// get returns the value node of key, or nil.
func (s *section) get(key string) *yaml.Node {
	for i := 0; i+1 < len(s.node.Content); i += 2 {
		if s.node.Content[i].Value == key {
			return s.node.Content[i+1]
		}
	}
	return nil
}

// child returns the sub-mapping of key, adding it when missing.
func (s *section) child(key string) *section {
	if v := s.get(key); v != nil {
		return &section{node: v}
	}
	c := newSection()
	s.set(key, c.node, "")
	return c
}

// remark adds a comment line written above the section.
func (s *section) remark(text string) { s.remarks = append(s.remarks, text) }

// finish moves the remarks into the YAML as a head comment of the first key
// (of the mapping itself when item is true: a sequence item, where the
// comment is then written above its dash).
func (s *section) finish(item ...bool) *yaml.Node {
	if len(s.remarks) > 0 && len(item) > 0 && item[0] {
		s.node.HeadComment = joinComment(s.remarks)
		return s.node
	}
	if len(s.remarks) > 0 && len(s.node.Content) > 0 {
		k := s.node.Content[0]
		k.HeadComment = joinComment(append(s.remarks, splitComment(k.HeadComment)...))
	}
	return s.node
}

func joinComment(lines []string) string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		for _, part := range strings.Split(l, "\n") {
			out = append(out, "# "+printable(part))
		}
	}
	return strings.Join(out, "\n")
}

// printable replaces control characters (and invalid UTF-8) so that a
// comment stays one comment line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f || r == utf8.RuneError || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

func splitComment(c string) []string {
	if c == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(c, "\n") {
		out = append(out, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
	}
	return out
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func num(n int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(n, 10)}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func dur(d string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: d} }

func strs(list []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range list {
		n.Content = append(n.Content, str(s))
	}
	return n
}

// yamlNode and sequenceKind shorten the yaml names in the converters.
type yamlNode = yaml.Node

const sequenceKind = yaml.SequenceNode
