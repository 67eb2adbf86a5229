package parser

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tinylib/msgp/msgp"
)

// jsonParser is Fluentd's JSONParser: one JSON object per line; the time
// key is numeric seconds unless time_format is set. It transcodes JSON to
// msgpack directly (key order kept, a repeated key keeps its first place
// and last value, as a Ruby Hash). Strings are copied as they are (invalid
// UTF-8 is not replaced).
type jsonParser struct {
	c       *common
	fields  []field
	scratch []byte
}

const maxJSONDepth = 512

var errJSON = errors.New("invalid json")

// AppendRecord implements Parser.
func (p *jsonParser) AppendRecord(dst, line []byte, now time.Time) ([]byte, error) {
	d := jsonDec{b: line}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return dst, fmt.Errorf("%w: json: not an object", ErrNoMatch)
	}
	d.i++
	p.fields = p.fields[:0]
	p.scratch = p.scratch[:0]
	d.ws()
	if d.peek() == '}' {
		d.i++
	} else {
		for {
			d.ws()
			key, err := d.str(nil)
			if err != nil {
				return dst, fmt.Errorf("%w: json: %v", ErrNoMatch, err)
			}
			d.ws()
			if d.peek() != ':' {
				return dst, fmt.Errorf("%w: json: expected ':' at byte %d", ErrNoMatch, d.i)
			}
			d.i++
			d.ws()
			v, err := p.topValue(&d)
			if err != nil {
				return dst, fmt.Errorf("%w: json: %v", ErrNoMatch, err)
			}
			p.fields = setField(p.fields, string(key), v)
			d.ws()
			c := d.peek()
			d.i++
			if c == '}' {
				break
			}
			if c != ',' {
				return dst, fmt.Errorf("%w: json: expected ',' or '}' at byte %d", ErrNoMatch, d.i-1)
			}
		}
	}
	d.ws()
	if d.i != len(d.b) {
		return dst, fmt.Errorf("%w: json: data after the object", ErrNoMatch)
	}
	return p.c.finish(dst, p.fields, now)
}

// topValue reads a member value: scalars typed, containers as msgpack.
func (p *jsonParser) topValue(d *jsonDec) (value, error) {
	switch c := d.peek(); {
	case c == '"':
		s, err := d.str(nil)
		if err != nil {
			return value{}, err
		}
		return strValue(string(s)), nil
	case c == '{' || c == '[':
		start := len(p.scratch)
		out, err := d.value(p.scratch, 0)
		if err != nil {
			return value{}, err
		}
		p.scratch = out
		return value{k: kRaw, raw: out[start:len(out):len(out)]}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		_, v, err := d.number(nil)
		return v, err
	default:
		var tmp [1]byte
		out, err := d.value(tmp[:0], 0)
		if err != nil {
			return value{}, err
		}
		return scalarValue(out), nil
	}
}

// scalarValue turns a msgpack scalar written by jsonDec back into a value.
func scalarValue(b []byte) value {
	switch b[0] {
	case 0xc0:
		return value{}
	case 0xc2:
		return value{k: kBool}
	case 0xc3:
		return value{k: kBool, b: true}
	}
	return value{}
}

// jsonDec is a small JSON reader writing msgpack.
type jsonDec struct {
	b []byte
	i int
}

func (d *jsonDec) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *jsonDec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value appends the msgpack form of the value at d.i to out.
func (d *jsonDec) value(out []byte, depth int) ([]byte, error) {
	if depth > maxJSONDepth {
		return out, fmt.Errorf("%w: nested deeper than %d", errJSON, maxJSONDepth)
	}
	d.ws()
	switch c := d.peek(); {
	case c == '{' || c == '[':
		array := c == '['
		closer := byte('}')
		if array {
			closer = ']'
		}
		d.i++
		start := len(out)
		out = append(out, make([]byte, headerReserve)...)
		n := 0
		d.ws()
		if d.peek() == closer {
			d.i++
			return fixHeader(out, start, 0, array), nil
		}
		for {
			d.ws()
			var err error
			if !array {
				var k []byte
				if k, err = d.str(nil); err != nil {
					return out, err
				}
				out = msgp.AppendStringFromBytes(out, k)
				d.ws()
				if d.peek() != ':' {
					return out, fmt.Errorf("%w: expected ':' at byte %d", errJSON, d.i)
				}
				d.i++
			}
			if out, err = d.value(out, depth+1); err != nil {
				return out, err
			}
			n++
			d.ws()
			c := d.peek()
			d.i++
			if c == closer {
				return fixHeader(out, start, n, array), nil
			}
			if c != ',' {
				return out, fmt.Errorf("%w: expected ',' at byte %d", errJSON, d.i-1)
			}
		}
	case c == '"':
		s, err := d.str(nil)
		if err != nil {
			return out, err
		}
		return msgp.AppendStringFromBytes(out, s), nil
	case c == 't':
		return d.lit(out, "true", 0xc3)
	case c == 'f':
		return d.lit(out, "false", 0xc2)
	case c == 'n':
		return d.lit(out, "null", 0xc0)
	case c == '-' || (c >= '0' && c <= '9'):
		out, _, err := d.number(out)
		return out, err
	}
	return out, fmt.Errorf("%w: unexpected byte at %d", errJSON, d.i)
}

func (d *jsonDec) lit(out []byte, word string, code byte) ([]byte, error) {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return out, fmt.Errorf("%w: bad literal at byte %d", errJSON, d.i)
	}
	d.i += len(word)
	return append(out, code), nil
}

// number appends the number at d.i and also returns it as a value.
func (d *jsonDec) number(out []byte) ([]byte, value, error) {
	start := d.i
	if d.peek() == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	intStart := d.i
	if n := digits(); n == 0 || (n > 1 && d.b[intStart] == '0') {
		return out, value{}, fmt.Errorf("%w: bad number at byte %d", errJSON, start)
	}
	isInt := true
	if d.peek() == '.' {
		d.i++
		isInt = false
		if digits() == 0 {
			return out, value{}, fmt.Errorf("%w: bad number at byte %d", errJSON, start)
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		isInt = false
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if digits() == 0 {
			return out, value{}, fmt.Errorf("%w: bad number at byte %d", errJSON, start)
		}
	}
	s := d.b[start:d.i]
	if isInt {
		neg := s[0] == '-'
		ds := s
		if neg {
			ds = s[1:]
		}
		if v, ok := digitsToInt(ds, neg); ok {
			return appendInt(out, v), value{k: kInt, i: v}, nil
		}
		if !neg {
			if u, err := strconv.ParseUint(string(ds), 10, 64); err == nil {
				return msgp.AppendUint64(out, u), value{k: kRaw, raw: msgp.AppendUint64(nil, u)}, nil
			}
		}
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return out, value{}, fmt.Errorf("%w: bad number at byte %d", errJSON, start)
	}
	return msgp.AppendFloat64(out, f), value{k: kFloat, f: f}, nil
}

// str reads a JSON string at d.i and returns its bytes (a sub-slice of the
// input when there are no escapes, else appended to buf).
func (d *jsonDec) str(buf []byte) ([]byte, error) {
	if d.peek() != '"' {
		return nil, fmt.Errorf("%w: expected a string at byte %d", errJSON, d.i)
	}
	d.i++
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, nil
		case c == '\\':
			return d.strSlow(append(buf, d.b[start:d.i]...))
		case c < 0x20:
			return nil, fmt.Errorf("%w: control character in a string at byte %d", errJSON, d.i)
		}
		d.i++
	}
	return nil, fmt.Errorf("%w: unterminated string", errJSON)
}

func (d *jsonDec) strSlow(buf []byte) ([]byte, error) {
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return buf, nil
		case c < 0x20:
			return nil, fmt.Errorf("%w: control character in a string at byte %d", errJSON, d.i)
		case c != '\\':
			buf = append(buf, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			break
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return nil, fmt.Errorf("%w: bad \\u escape at byte %d", errJSON, d.i)
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(utf8.RuneError)
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					save := d.i
					d.i += 2
					if lo, ok := d.hex4(); ok {
						if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
							r2 = dec
						} else {
							d.i = save
						}
					} else {
						d.i = save
					}
				}
				r = r2
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return nil, fmt.Errorf("%w: bad escape at byte %d", errJSON, d.i-1)
		}
	}
	return nil, fmt.Errorf("%w: unterminated string", errJSON)
}

func (d *jsonDec) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}
