package parser

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tinylib/msgp/msgp"
)

type kind uint8

const (
	kNil kind = iota
	kStr
	kInt
	kFloat
	kBool
	kStrs // array of strings
	kRaw  // already msgpack-encoded value
)

type value struct {
	k    kind
	s    string
	i    int64
	f    float64
	b    bool
	strs []string
	raw  []byte
}

type field struct {
	key string
	v   value
}

func strValue(s string) value { return value{k: kStr, s: s} }

// common holds what every generic parser shares: time extraction, null
// patterns, type casting and encoding.
type common struct {
	cfg     Config
	loc     *time.Location
	tp      *timeParser
	numeric bool // time value is numeric seconds (json without time_format)
	types   map[string]converter
	null    *regexp.Regexp
}

func newCommon(cfg Config, loc *time.Location) (*common, error) {
	c := &common{cfg: cfg, loc: loc}
	var err error
	if cfg.Type == TypeJSON && cfg.TimeFormat == "" {
		c.numeric = true
	} else if c.tp, err = newTimeParser(cfg.TimeFormat, loc); err != nil {
		return nil, newConfigError("time_format", "%v", err)
	}
	if cfg.Types != "" {
		if c.types, err = parseTypes(cfg.Types, loc); err != nil {
			return nil, newConfigError("types", "%v", err)
		}
	}
	if cfg.NullValuePattern != "" {
		c.null, _ = compileRuby(cfg.NullValuePattern)
	}
	return c, nil
}

// finish extracts the event time from fields (Fluentd Parser#parse_time),
// applies null patterns and types (convert_values) and appends the record.
func (c *common) finish(dst []byte, fields []field, now time.Time) ([]byte, error) {
	evTime := now.Unix()
	drop := -1
	for i := range fields {
		f := &fields[i]
		if f.key != c.cfg.TimeKey || f.v.k == kNil {
			continue
		}
		t, err := c.parseTimeValue(f.v, now)
		if err != nil {
			return dst, fmt.Errorf("%w: %s: %w", ErrNoMatch, c.cfg.TimeKey, err)
		}
		evTime = t
		if !c.cfg.KeepTimeKey {
			drop = i
		}
		break
	}
	start := len(dst)
	dst = append(dst, make([]byte, headerReserve)...)
	n := 0
	for i := range fields {
		f := &fields[i]
		if i == drop || f.key == "time" {
			continue // "time" is always the integer event time, written last
		}
		v := f.v
		if v.k == kStr && ((c.cfg.NullEmptyString && v.s == "") || (c.null != nil && c.null.MatchString(v.s))) {
			v = value{k: kNil}
		} else if conv, ok := c.types[f.key]; ok && v.k == kStr {
			v = conv(v.s, now)
		}
		dst = msgp.AppendString(dst, f.key)
		dst = appendValue(dst, v)
		n++
	}
	dst = msgp.AppendString(dst, "time")
	dst = appendInt(dst, evTime)
	n++
	return fixHeader(dst, start, n, false), nil
}

func (c *common) parseTimeValue(v value, now time.Time) (int64, error) {
	switch v.k {
	case kInt:
		return v.i, nil
	case kFloat:
		if math.IsNaN(v.f) || math.IsInf(v.f, 0) || v.f > math.MaxInt64 || v.f < math.MinInt64 {
			return 0, fmt.Errorf("%w: %v", ErrTime, v.f)
		}
		return int64(math.Floor(v.f)), nil
	case kStr:
		if c.numeric {
			return numericTime(v.s)
		}
		return c.tp.parse(v.s, now)
	default:
		return 0, fmt.Errorf("%w: not a string or number", ErrTime)
	}
}

func appendValue(dst []byte, v value) []byte {
	switch v.k {
	case kStr:
		return msgp.AppendString(dst, v.s)
	case kInt:
		return appendInt(dst, v.i)
	case kFloat:
		return msgp.AppendFloat64(dst, v.f)
	case kBool:
		return msgp.AppendBool(dst, v.b)
	case kStrs:
		dst = msgp.AppendArrayHeader(dst, uint32(len(v.strs)))
		for _, s := range v.strs {
			dst = msgp.AppendString(dst, s)
		}
		return dst
	case kRaw:
		return append(dst, v.raw...)
	default:
		return msgp.AppendNil(dst)
	}
}

type converter func(s string, now time.Time) value

// parseTypes reads Fluentd's types parameter: "name:type[:option],...".
func parseTypes(spec string, loc *time.Location) (map[string]converter, error) {
	out := map[string]converter{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.SplitN(item, ":", 3)
		if len(parts) < 2 || parts[0] == "" {
			return nil, fmt.Errorf("%q is not name:type", item)
		}
		name, typ, opt := parts[0], parts[1], ""
		if len(parts) == 3 {
			opt = parts[2]
		}
		switch typ {
		case "string":
			out[name] = func(s string, _ time.Time) value { return strValue(s) }
		case "integer":
			out[name] = func(s string, _ time.Time) value { return rubyToI(s) }
		case "float":
			out[name] = func(s string, _ time.Time) value { return value{k: kFloat, f: rubyToF(s)} }
		case "bool":
			out[name] = func(s string, _ time.Time) value {
				switch strings.ToLower(s) {
				case "true", "yes", "1":
					return value{k: kBool, b: true}
				}
				return value{k: kBool}
			}
		case "time":
			tp, err := newTimeParser(opt, loc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out[name] = func(s string, now time.Time) value {
				t, err := tp.parse(s, now)
				if err != nil {
					return value{k: kNil}
				}
				return value{k: kInt, i: t}
			}
		case "array":
			delim := ","
			if opt != "" {
				delim = opt
			}
			out[name] = func(s string, _ time.Time) value { return value{k: kStrs, strs: rubySplit(s, delim)} }
		default:
			return nil, fmt.Errorf("%s: unknown type %q (string, integer, float, bool, time, array)", name, typ)
		}
	}
	return out, nil
}

// rubySplit is Ruby's String#split(delim) with a string delimiter: trailing
// empty fields are dropped.
func rubySplit(s, delim string) []string {
	parts := strings.Split(s, delim)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// rubyToI is Ruby's String#to_i: leading whitespace, an optional sign, then
// digits (single underscores between digits allowed); anything else stops
// the number; no digits gives 0. A number beyond int64 (a Ruby Bignum,
// which msgpack cannot carry either) keeps its digits as a string.
func rubyToI(s string) value {
	b := []byte(s)
	digits, neg := rubyIntDigits(b)
	if len(digits) == 0 {
		return value{k: kInt}
	}
	v, ok := digitsToInt(digits, neg)
	if !ok {
		if neg {
			return strValue("-" + string(digits))
		}
		return strValue(string(digits))
	}
	return value{k: kInt, i: v}
}

// rubyIntDigits returns the digits String#to_i would read (without
// underscores, in a new slice only when underscores are present).
func rubyIntDigits(b []byte) (digits []byte, neg bool) {
	i := 0
	for i < len(b) && (b[i] == ' ' || (b[i] >= '\t' && b[i] <= '\r')) {
		i++
	}
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	start := i
	clean := true
	for i < len(b) {
		if b[i] >= '0' && b[i] <= '9' {
			i++
			continue
		}
		if b[i] == '_' && i > start && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '9' && b[i-1] != '_' {
			clean = false
			i++
			continue
		}
		break
	}
	digits = b[start:i]
	if !clean {
		d := make([]byte, 0, len(digits))
		for _, c := range digits {
			if c != '_' {
				d = append(d, c)
			}
		}
		digits = d
	}
	return digits, neg
}

func digitsToInt(d []byte, neg bool) (int64, bool) {
	var u uint64
	for _, c := range d {
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// rubyToF approximates Ruby's String#to_f: the longest numeric prefix.
func rubyToF(s string) float64 {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	seenDigit, seenDot, seenExp := false, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			seenDigit = true
			end = i + 1
		case (c == '+' || c == '-') && (i == 0 || s[i-1] == 'e' || s[i-1] == 'E'):
		case c == '.' && !seenDot && !seenExp:
			seenDot = true
		case (c == 'e' || c == 'E') && seenDigit && !seenExp:
			seenExp = true
		default:
			i = len(s)
		}
	}
	f, err := strconv.ParseFloat(s[:end], 64)
	if err != nil {
		return 0
	}
	return f
}
