package tdrecord

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrTime is wrapped by every time normalisation failure.
var ErrTime = errors.New("not a number of seconds")

// Seconds normalises a decoded time value (see the package doc for the
// rule): Go integers, float32/float64 (floored), and json.Number. Strings,
// nil and anything else are ErrTime.
func Seconds(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("time %d: %w (over 2^63-1)", x, ErrTime)
		}
		return int64(x), nil
	case uint:
		return Seconds(uint64(x))
	case float32:
		return FloatSeconds(float64(x))
	case float64:
		return FloatSeconds(x)
	case json.Number:
		return numberSeconds(string(x))
	}
	return 0, fmt.Errorf("time of type %s: %w", typeName(v), ErrTime)
}

// ParseSeconds parses a time given as text, the in_http "time" parameter:
// a decimal integer, or a decimal or exponent number floored to seconds.
func ParseSeconds(s string) (int64, error) { return numberSeconds(strings.TrimSpace(s)) }

func numberSeconds(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", clip(s, 64), ErrTime)
	}
	return FloatSeconds(f)
}

// twoTo63 is 2^63 as a float64 (float64(math.MaxInt64) rounds to it).
const twoTo63 = float64(1 << 63)

// FloatSeconds floors f to whole seconds; NaN, +-Inf and values whose floor
// is outside [-2^63, 2^63) are ErrTime.
func FloatSeconds(f float64) (int64, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("time %v: %w", f, ErrTime)
	}
	f = math.Floor(f)
	if f < -twoTo63 || f >= twoTo63 {
		return 0, fmt.Errorf("time %v: %w (outside the int64 range)", f, ErrTime)
	}
	return int64(f), nil
}

// RawSeconds normalises the msgpack value obj (a whole value, as in a
// Fluentd forward entry): an integer, a float (floored) or the EventTime
// extension (type 0, 8 bytes: seconds, nanoseconds; the seconds are
// taken). Anything else, or a value out of range, is ErrTime.
func RawSeconds(obj []byte) (int64, error) {
	if len(obj) == 0 {
		return 0, fmt.Errorf("empty time: %w", ErrTime)
	}
	if v, next, kind := intValue(obj, 0); kind == intOK && next == len(obj) {
		return v, nil
	}
	c := obj[0]
	switch {
	case c == 0xca && len(obj) == 5:
		return FloatSeconds(float64(math.Float32frombits(binary.BigEndian.Uint32(obj[1:]))))
	case c == 0xcb && len(obj) == 9:
		return FloatSeconds(math.Float64frombits(binary.BigEndian.Uint64(obj[1:])))
	case c == 0xd7 && len(obj) == 10 && obj[1] == 0: // fixext8
		return int64(binary.BigEndian.Uint32(obj[2:])), nil
	case c == 0xc7 && len(obj) == 11 && obj[1] == 8 && obj[2] == 0: // ext8 of length 8
		return int64(binary.BigEndian.Uint32(obj[3:])), nil
	}
	return 0, fmt.Errorf("time of msgpack type 0x%02x: %w", c, ErrTime)
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any, map[any]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []byte:
		return "binary"
	}
	return fmt.Sprintf("%T", v)
}
