package parser

import (
	"bytes"
	"fmt"
	"regexp"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Fluentd's expressions, with Ruby's \S and \s spelled out (Go's \s lacks
// \v) and (?m) for Ruby's line anchors. They are the reference the hand
// parser is tested against and its slow path for unusual lines.
var (
	apache2Regexp = regexp.MustCompile(`(?m)^(?P<host>[^ ]*) [^ ]* (?P<user>[^ ]*) \[(?P<time>[^\]]*)\] "(?P<method>[^ \t\n\v\f\r]+)(?: +(?P<path>(?:[^\"]|\\.)*?)(?: +[^ \t\n\v\f\r]*)?)?" (?P<code>[^ ]*) (?P<size>[^ ]*)(?: "(?P<referer>(?:[^\"]|\\.)*)" "(?P<agent>(?:[^\"]|\\.)*)")?$`)
	nginxRegexp   = regexp.MustCompile(`(?m)^(?P<remote>[^ ]*) (?P<host>[^ ]*) (?P<user>[^ ]*) \[(?P<time>[^\]]*)\] "(?P<method>[^ \t\n\v\f\r]+)(?: +(?P<path>[^\"]*?)(?: +[^ \t\n\v\f\r]*)?)?" (?P<code>[^ ]*) (?P<size>[^ ]*)(?: "(?P<referer>[^\"]*)" "(?P<agent>[^\"]*)"(?:[ \t\n\v\f\r]+(?P<http_x_forwarded_for>[^ ]+))?)?$`)
	// apacheErrorRegexp is Fluentd's apache_error expression.
	apacheErrorRegexp = regexp.MustCompile(`(?m)^\[[^ ]* (?P<time>[^\]]*)\] \[(?P<level>[^\]]*)\](?: \[pid (?P<pid>[^\]]*)\])?( \[client (?P<client>[^\]]*)\])? (?P<message>.*)$`)
)

// Span indexes shared by apache2 and nginx. For apache2, sA is host and
// sB (the ident) is not reported; for nginx sA is remote and sB is host.
const (
	sA = iota
	sB
	sUser
	sTime
	sMethod
	sPath
	sCode
	sSize
	sRef
	sAgent
	sXFF
	nSpans
)

var nginxNames = [nSpans]string{"remote", "host", "user", "time", "method", "path", "code", "size", "referer", "agent", "http_x_forwarded_for"}

// spans are sub-slices of the line; present says which groups matched.
type spans struct {
	v       [nSpans][]byte
	present uint16
}

func (s *spans) set(i int, b []byte) { s.v[i] = b; s.present |= 1 << i }
func (s *spans) has(i int) bool      { return s.present&(1<<i) != 0 }

// apacheParser is the hand-written byte parser for apache2 and nginx. It
// accepts the common line shapes, where the result is provably the one the
// Fluentd regexp gives, and hands every other line to the regexp itself, so
// its output always equals the regexp's.
type apacheParser struct {
	c     *common
	nginx bool
	re    *regexp.Regexp
	clf   clfCache
	// direct: nginx without types/null/time options can be encoded
	// straight from the spans.
	direct bool
}

func newApache(c *common, nginx bool) *apacheParser {
	p := &apacheParser{c: c, nginx: nginx, re: apache2Regexp}
	if nginx {
		p.re = nginxRegexp
	}
	p.clf.loc = c.loc
	cfg := c.cfg
	p.direct = cfg.TimeFormat == "" && cfg.TimeKey == "time" && c.types == nil && c.null == nil && !cfg.NullEmptyString
	return p
}

// AppendRecord implements Parser.
func (p *apacheParser) AppendRecord(dst, line []byte, now time.Time) ([]byte, error) {
	var sp spans
	if !p.fast(line, &sp) && !p.slow(line, &sp) {
		return dst, fmt.Errorf("%w: %s", ErrNoMatch, p.name())
	}
	if p.nginx {
		return p.appendNginx(dst, &sp, now)
	}
	return p.appendApache2(dst, &sp)
}

func (p *apacheParser) name() string {
	if p.nginx {
		return TypeNginx
	}
	return TypeApache2
}

// slow fills sp from the reference regexp.
func (p *apacheParser) slow(line []byte, sp *spans) bool {
	m := p.re.FindSubmatchIndex(line)
	if m == nil {
		return false
	}
	for gi, name := range p.re.SubexpNames() {
		if gi == 0 || m[2*gi] < 0 {
			continue
		}
		idx := spanIndex(name, p.nginx)
		if idx >= 0 {
			sp.set(idx, line[m[2*gi]:m[2*gi+1]])
		}
	}
	return true
}

func spanIndex(name string, nginx bool) int {
	if !nginx && name == "host" {
		return sA
	}
	for i, n := range nginxNames {
		if n == name {
			return i
		}
	}
	return -1
}

func isRubySpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// fast parses the common shapes; false means "ask the regexp".
func (p *apacheParser) fast(line []byte, sp *spans) bool {
	if bytes.IndexByte(line, '\n') >= 0 {
		return false
	}
	// Without a \" sequence, apache2's (?:[^"]|\\.) alternatives cannot
	// skip a quote and behave like nginx's [^"].
	if !p.nginx && bytes.Contains(line, escapedQuote) {
		return false
	}
	rest := line
	for i := sA; i <= sUser; i++ {
		j := bytes.IndexByte(rest, ' ')
		if j < 0 {
			return false
		}
		sp.set(i, rest[:j])
		rest = rest[j+1:]
	}
	if !p.nginx {
		sp.present &^= 1 << sB // apache2's ident is not reported
	}
	if len(rest) == 0 || rest[0] != '[' {
		return false
	}
	j := bytes.IndexByte(rest, ']')
	if j < 0 {
		return false
	}
	sp.set(sTime, rest[1:j])
	rest = rest[j+1:]
	if len(rest) < 2 || rest[0] != ' ' || rest[1] != '"' {
		return false
	}
	rest = rest[2:]
	q := bytes.IndexByte(rest, '"')
	if q <= 0 {
		return false
	}
	req := rest[:q]
	if req[0] == ' ' || req[len(req)-1] == ' ' {
		return false
	}
	first := -1
	for i, c := range req {
		switch {
		case c == ' ':
			if first < 0 {
				first = i
			}
		case c < ' ' && isRubySpace(c):
			return false
		}
	}
	if first < 0 {
		return false // a one-token request: the method may swallow the quote
	}
	sp.set(sMethod, req[:first])
	p1 := first
	for req[p1] == ' ' {
		p1++
	}
	ls := bytes.LastIndexByte(req, ' ')
	for req[ls-1] == ' ' {
		ls--
	}
	if ls == first {
		sp.set(sPath, req[p1:])
	} else {
		sp.set(sPath, req[p1:ls])
	}
	// Tail: ` code size` then EOL or ` "referer" "agent"`.
	t := rest[q+1:]
	if len(t) == 0 || t[0] != ' ' {
		return false
	}
	t = t[1:]
	j = bytes.IndexByte(t, ' ')
	if j < 0 {
		return false
	}
	sp.set(sCode, t[:j])
	t = t[j+1:]
	j = bytes.IndexByte(t, ' ')
	if j < 0 {
		sp.set(sSize, t)
		return true
	}
	sp.set(sSize, t[:j])
	t = t[j:]
	if len(t) < 2 || t[1] != '"' {
		return false
	}
	t = t[2:]
	q = bytes.IndexByte(t, '"')
	if q < 0 {
		return false
	}
	ref := t[:q]
	t = t[q+1:]
	if len(t) < 2 || t[0] != ' ' || t[1] != '"' {
		return false
	}
	t = t[2:]
	q = bytes.IndexByte(t, '"')
	if q < 0 {
		return false
	}
	agent := t[:q]
	t = t[q+1:]
	if len(t) != 0 {
		if !p.nginx || t[0] != ' ' || len(t) < 2 {
			return false
		}
		for _, c := range t[1:] {
			if isRubySpace(c) {
				return false
			}
		}
		sp.set(sXFF, t[1:])
	}
	sp.set(sRef, ref)
	sp.set(sAgent, agent)
	return true
}

var (
	dash         = []byte("-")
	escapedQuote = []byte(`\"`)
)

// appendApache2 writes Fluentd's apache2 record: host, user, method, path,
// code, size, referer, agent ("-" -> nil, code/size integers), then time.
func (p *apacheParser) appendApache2(dst []byte, sp *spans) ([]byte, error) {
	t, err := p.clf.parse(sp.v[sTime])
	if err != nil {
		return dst, fmt.Errorf("%w: apache2: %w", ErrNoMatch, err)
	}
	dst = msgp.AppendMapHeader(dst, uint32(9))
	dst = msgp.AppendString(dst, "host")
	dst = appendDashNil(dst, sp.v[sA])
	dst = msgp.AppendString(dst, "user")
	dst = appendDashNil(dst, sp.v[sUser])
	dst = msgp.AppendString(dst, "method")
	dst = msgp.AppendStringFromBytes(dst, sp.v[sMethod])
	dst = msgp.AppendString(dst, "path")
	if sp.has(sPath) {
		dst = msgp.AppendStringFromBytes(dst, sp.v[sPath])
	} else {
		dst = msgp.AppendNil(dst)
	}
	dst = msgp.AppendString(dst, "code")
	// code = m['code'].to_i; nil if 0
	digits, neg := rubyIntDigits(sp.v[sCode])
	if v, ok := digitsToInt(digits, neg); !ok {
		dst = appendBigDigits(dst, digits, neg)
	} else if v == 0 {
		dst = msgp.AppendNil(dst)
	} else {
		dst = appendInt(dst, v)
	}
	dst = msgp.AppendString(dst, "size")
	// size = '-' ? nil : size.to_i
	if bytes.Equal(sp.v[sSize], dash) {
		dst = msgp.AppendNil(dst)
	} else {
		digits, neg := rubyIntDigits(sp.v[sSize])
		if v, ok := digitsToInt(digits, neg); ok {
			dst = appendInt(dst, v)
		} else {
			dst = appendBigDigits(dst, digits, neg)
		}
	}
	dst = msgp.AppendString(dst, "referer")
	if sp.has(sRef) {
		dst = appendDashNil(dst, sp.v[sRef])
	} else {
		dst = msgp.AppendNil(dst)
	}
	dst = msgp.AppendString(dst, "agent")
	if sp.has(sAgent) {
		dst = appendDashNil(dst, sp.v[sAgent])
	} else {
		dst = msgp.AppendNil(dst)
	}
	dst = msgp.AppendString(dst, "time")
	return appendInt(dst, t), nil
}

// appendBigDigits writes an integer beyond int64 (a Ruby Bignum) as its
// decimal string.
func appendBigDigits(dst, digits []byte, neg bool) []byte {
	n := len(digits)
	if neg {
		n++
	}
	dst = appendStrHeader(dst, n)
	if neg {
		dst = append(dst, '-')
	}
	return append(dst, digits...)
}

func appendDashNil(dst, b []byte) []byte {
	if bytes.Equal(b, dash) {
		return msgp.AppendNil(dst)
	}
	return msgp.AppendStringFromBytes(dst, b)
}

// appendNginx writes Fluentd's nginx (RegexpParser) record: every matched
// group as a string, unmatched optional groups left out, time extracted.
func (p *apacheParser) appendNginx(dst []byte, sp *spans, now time.Time) ([]byte, error) {
	if !p.direct {
		fields := make([]field, 0, nSpans)
		for i := 0; i < nSpans; i++ {
			if sp.has(i) {
				fields = append(fields, field{key: nginxNames[i], v: strValue(string(sp.v[i]))})
			}
		}
		return p.c.finish(dst, fields, now)
	}
	t, err := p.clf.parse(sp.v[sTime])
	if err != nil {
		return dst, fmt.Errorf("%w: nginx: %w", ErrNoMatch, err)
	}
	n := 0
	for i := 0; i < nSpans; i++ {
		if sp.has(i) && i != sTime {
			n++
		}
	}
	dst = msgp.AppendMapHeader(dst, uint32(n+1))
	for i := 0; i < nSpans; i++ {
		if sp.has(i) && i != sTime {
			dst = msgp.AppendString(dst, nginxNames[i])
			dst = msgp.AppendStringFromBytes(dst, sp.v[i])
		}
	}
	dst = msgp.AppendString(dst, "time")
	return appendInt(dst, t), nil
}
