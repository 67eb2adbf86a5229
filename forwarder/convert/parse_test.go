package convert

import (
	"errors"
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	in := `# comment
@include conf.d/*.conf
<source>
  @type tail   # trailing comment
  path "/var/log/a b.log"
  tag 'td.db.tbl'
  format /^(?<x>[^ ]*) #(?<y>.*)$/
  apikey "#{ENV['K']}"
  multi "one
two"
  esc "a\"b\\c\tz"
  flag
	tabbed	value
  <parse>
    @type none
  </parse>
</source>
`
	root, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := root.Params; len(got) != 1 || got[0].Key != "@include" || got[0].Value != "conf.d/*.conf" {
		t.Errorf("root params %+v", got)
	}
	src := root.Elems[0]
	want := []Param{{"@type", "tail", 4}, {"path", "/var/log/a b.log", 5}, {"tag", "td.db.tbl", 6},
		{"format", "/^(?<x>[^ ]*) #(?<y>.*)$/", 7}, {"apikey", "#{ENV['K']}", 8}, {"multi", "one\ntwo", 9},
		{"esc", "a\"b\\c\tz", 11}, {"flag", "", 12}, {"tabbed", "value", 13}}
	if !reflect.DeepEqual(src.Params, want) {
		t.Errorf("params\n%+v\nwant\n%+v", src.Params, want)
	}
	if len(src.Elems) != 1 || src.Elems[0].Type() != "none" {
		t.Errorf("nested %+v", src.Elems)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in string }{
		{"unclosed", "<source>\n"},
		{"stray close", "</source>\n"},
		{"mismatched", "<source>\n</match>\n"},
		{"unterminated double", "<source>\n k \"abc\n</source>\n"},
		{"unterminated single", "k 'abc\n"},
		{"no >", "<source\n"},
		{"text after close", "<source>\n</source> x\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.in)); !errors.Is(err, ErrSyntax) {
				t.Errorf("Parse: %v, want ErrSyntax", err)
			}
		})
	}
}

func TestMatchTag(t *testing.T) {
	tests := []struct {
		pattern, tag string
		want         bool
	}{
		{"td.*.*", "td.db.tbl", true},
		{"td.*.*", "td.db", false},
		{"td.*.*", "td.db.tbl.x", false},
		{"apache.**", "apache", true},
		{"apache.**", "apache.access.x", true},
		{"**", "anything.at.all", true},
		{"a.{b,c}", "a.c", true},
		{"a.{b,c}", "a.d", false},
		{"a.b x.*", "x.y", true},
		{"a*.b", "abc.b", true},
	}
	for _, tc := range tests {
		if got := matchTag(tc.pattern, tc.tag); got != tc.want {
			t.Errorf("matchTag(%q, %q) = %v", tc.pattern, tc.tag, got)
		}
	}
}

func TestUnits(t *testing.T) {
	sizes := map[string]int64{"8m": 8 << 20, "1g": 1 << 30, "256k": 256 << 10, "1024": 1024, "2G": 2 << 30}
	for in, want := range sizes {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	durs := map[string]string{"60s": "60s", "1m": "1m", "10": "10s", "0.5": "0.5s", "1d": "24h"}
	for in, want := range durs {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"x", "-1", "1x"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestGoEscapes(t *testing.T) {
	tests := map[string]string{
		`[^\u0023]+\u0023`: `[^\x{0023}]+\x{0023}`,
		`\\u0023`:          `\\u0023`, // an escaped backslash, then u
		`\u00`:             `\u00`,
		`a\d\n`:            `a\d\n`,
	}
	for in, want := range tests {
		if got := goEscapes(in); got != want {
			t.Errorf("goEscapes(%q) = %q, want %q", in, got, want)
		}
	}
}
