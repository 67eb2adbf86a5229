package parser

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// regexpParser is Fluentd's RegexpParser: every matched named group becomes
// a string field (unmatched optional groups are left out), then the time
// key is extracted and types applied. apache_error and regexp use it.
type regexpParser struct {
	c     *common
	re    *regexp.Regexp
	names []string
	ints  map[string]bool // groups Fluentd converts with to_i (syslog pri)
}

func newRegexpParser(c *common, re *regexp.Regexp) *regexpParser {
	return &regexpParser{c: c, re: re, names: re.SubexpNames()}
}

// AppendRecord implements Parser.
func (p *regexpParser) AppendRecord(dst, line []byte, now time.Time) ([]byte, error) {
	m := p.re.FindSubmatchIndex(line)
	if m == nil {
		return dst, fmt.Errorf("%w: %s", ErrNoMatch, p.c.cfg.Type)
	}
	return p.c.finish(dst, p.fields(line, m), now)
}

func (p *regexpParser) fields(line []byte, m []int) []field {
	fields := make([]field, 0, len(p.names))
	for gi, name := range p.names {
		if gi == 0 || name == "" || m[2*gi] < 0 {
			continue
		}
		v := strValue(string(line[m[2*gi]:m[2*gi+1]]))
		if p.ints[name] {
			v = rubyToI(v.s)
		}
		fields = append(fields, field{key: name, v: v})
	}
	return fields
}

// Fluentd's syslog expressions. The RFC 5424 structured-data lookbehind
// `\[.*?(?<!\\)\]` is written without lookbehind as `\[(?:.*?[^\\])?\]`.
var (
	syslog3164Regexp    = regexp.MustCompile(`(?m)^(?P<time>[^ ]*[ \t\n\v\f\r]*[^ ]* [^ ]*) (?P<host>[^ ]*) (?P<ident>[^ :\[]*)(?:\[(?P<pid>[^\]]*)\])?(?:[^\:]*\:)? *(?P<message>.*)$`)
	syslog3164PriRegexp = regexp.MustCompile(`(?m)^\<(?P<pri>[0-9]+)\>(?P<time>[^ ]* {1,2}[^ ]* [^ ]*) (?P<host>[^ ]*) (?P<ident>[^ :\[]*)(?:\[(?P<pid>[^\]]*)\])?(?:[^\:]*\:)? *(?P<message>.*)$`)
	syslog5424Regexp    = regexp.MustCompile(`\A\<(?P<pri>[0-9]{1,3})\>[1-9][0-9]{0,2} (?P<time>[^ ]+) (?P<host>[!-~]{1,255}) (?P<ident>[!-~]{1,48}) (?P<pid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) (?P<extradata>(?:\-|(?:\[(?:.*?[^\\])?\])+))(?: (?P<message>(?s:.+)))?\z`)
	syslog5424Detect    = regexp.MustCompile(`^\<[0-9]{1,3}\>[1-9][0-9]{0,2} `)
)

// syslogParser is Fluentd's syslog parser (regexp engine).
type syslogParser struct {
	p3164, p5424 *regexpParser
	auto         bool
	use5424      bool
}

func newSyslog(c *common) *syslogParser {
	s := &syslogParser{auto: c.cfg.Format == "auto", use5424: c.cfg.Format == "rfc5424"}
	c3164 := *c
	if c.cfg.TimeFormat == "" {
		c3164.tp, _ = newTimeParser("%b %d %H:%M:%S", c.loc)
	}
	re := syslog3164Regexp
	if c.cfg.WithPriority {
		re = syslog3164PriRegexp
	}
	s.p3164 = newRegexpParser(&c3164, re)
	s.p3164.ints = map[string]bool{"pri": true}
	c5424 := *c
	if c.cfg.TimeFormat == "" {
		c5424.tp = &timeParser{layouts: []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"}, loc: c.loc}
	}
	s.p5424 = newRegexpParser(&c5424, syslog5424Regexp)
	s.p5424.ints = map[string]bool{"pri": true}
	return s
}

// AppendRecord implements Parser.
func (s *syslogParser) AppendRecord(dst, line []byte, now time.Time) ([]byte, error) {
	p := s.p3164
	if s.use5424 || (s.auto && syslog5424Detect.Match(line)) {
		p = s.p5424
		if m := p.re.FindSubmatchIndex(line); m != nil {
			fields := p.fields(line, m)
			for i := range fields {
				if fields[i].key == "time" && fields[i].v.s == "-" {
					fields[i].v = value{} // RFC 5424 NILVALUE: current time
				}
			}
			return p.c.finish(dst, fields, now)
		}
		return dst, fmt.Errorf("%w: syslog rfc5424", ErrNoMatch)
	}
	return p.AppendRecord(dst, line, now)
}

// ltsvParser is Fluentd's LabeledTSVParser.
type ltsvParser struct{ c *common }

// AppendRecord implements Parser.
func (p *ltsvParser) AppendRecord(dst, line []byte, now time.Time) ([]byte, error) {
	var fields []field
	for _, pair := range rubySplit(string(line), p.c.cfg.Delimiter) {
		k, v, ok := strings.Cut(pair, p.c.cfg.LabelDelimiter)
		if !ok {
			continue
		}
		fields = setField(fields, k, strValue(v))
	}
	return p.c.finish(dst, fields, now)
}

// setField is Ruby's hash assignment: a repeated key keeps its first
// position and takes the last value.
func setField(fields []field, k string, v value) []field {
	for i := range fields {
		if fields[i].key == k {
			fields[i].v = v
			return fields
		}
	}
	return append(fields, field{key: k, v: v})
}

// tsvParser is Fluentd's TSVParser: keys zipped with the split line.
type tsvParser struct{ c *common }

// AppendRecord implements Parser.
func (p *tsvParser) AppendRecord(dst, line []byte, now time.Time) ([]byte, error) {
	vals := rubySplit(string(line), p.c.cfg.Delimiter)
	return p.c.finish(dst, zipKeys(p.c.cfg.Keys, vals, nil), now)
}

func zipKeys(keys, vals []string, isNil []bool) []field {
	var fields []field
	for i, k := range keys {
		v := value{}
		if i < len(vals) && (isNil == nil || !isNil[i]) {
			v = strValue(vals[i])
		}
		fields = setField(fields, k, v)
	}
	return fields
}

// csvParser is Fluentd's CSVParser (Ruby CSV.parse_line): an unquoted empty
// field is nil, a quoted one "", bad quoting is a parse error.
type csvParser struct {
	c     *common
	comma rune
}

// AppendRecord implements Parser.
func (p *csvParser) AppendRecord(dst, line []byte, now time.Time) ([]byte, error) {
	vals, isNil, err := splitCSV(string(line), string(p.comma))
	if err != nil {
		return dst, fmt.Errorf("%w: csv: %v", ErrNoMatch, err)
	}
	return p.c.finish(dst, zipKeys(p.c.cfg.Keys, vals, isNil), now)
}

func splitCSV(s, sep string) (vals []string, isNil []bool, err error) {
	s = strings.TrimSuffix(s, "\r")
	for {
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for {
				j := strings.IndexByte(s[i:], '"')
				if j < 0 {
					return nil, nil, fmt.Errorf("unclosed quoted field")
				}
				b.WriteString(s[i : i+j])
				i += j + 1
				if strings.HasPrefix(s[i:], `"`) {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			vals, isNil = append(vals, b.String()), append(isNil, false)
			s = s[i:]
			if s == "" {
				return vals, isNil, nil
			}
			if !strings.HasPrefix(s, sep) {
				return nil, nil, fmt.Errorf("text after a closing quote")
			}
			s = s[len(sep):]
			continue
		}
		f, rest, more := strings.Cut(s, sep)
		if strings.IndexByte(f, '"') >= 0 {
			return nil, nil, fmt.Errorf("quote inside an unquoted field")
		}
		vals, isNil = append(vals, f), append(isNil, f == "")
		if !more {
			return vals, isNil, nil
		}
		s = rest
	}
}

// noneParser is Fluentd's NoneParser: {message_key: line}, time now.
type noneParser struct{ c *common }

// AppendRecord implements Parser.
func (p *noneParser) AppendRecord(dst, line []byte, now time.Time) ([]byte, error) {
	dst = msgp.AppendMapHeader(dst, uint32(2))
	dst = msgp.AppendString(dst, p.c.cfg.MessageKey)
	dst = msgp.AppendStringFromBytes(dst, line)
	dst = msgp.AppendString(dst, "time")
	return appendInt(dst, now.Unix()), nil
}
