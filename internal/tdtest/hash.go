package tdtest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"sort"
)

// HashRecord returns a canonical hex SHA-256 of a record: map keys sorted,
// integers compared by value (int64/uint64 of any msgpack width), float32
// widened, and str and bin treated alike, so the same event read back from
// S3 objects, the TD receiver or anywhere else hashes the same.
func HashRecord(r map[string]any) string {
	h := sha256.New()
	writeCanonical(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

func writeCanonical(w io.Writer, v any) {
	var buf [9]byte
	tagged := func(tag byte, u uint64) {
		buf[0] = tag
		binary.BigEndian.PutUint64(buf[1:], u)
		_, _ = w.Write(buf[:])
	}
	str := func(s string) {
		tagged('s', uint64(len(s)))
		_, _ = io.WriteString(w, s)
	}
	switch x := v.(type) {
	case nil:
		_, _ = w.Write([]byte{'n'})
	case bool:
		if x {
			_, _ = w.Write([]byte{'T'})
		} else {
			_, _ = w.Write([]byte{'F'})
		}
	case int:
		tagged('i', uint64(int64(x)))
	case int8:
		tagged('i', uint64(int64(x)))
	case int16:
		tagged('i', uint64(int64(x)))
	case int32:
		tagged('i', uint64(int64(x)))
	case int64:
		tagged('i', uint64(x))
	case uint8:
		tagged('i', uint64(x))
	case uint16:
		tagged('i', uint64(x))
	case uint32:
		tagged('i', uint64(x))
	case uint64:
		if x > math.MaxInt64 {
			tagged('u', x)
		} else {
			tagged('i', x)
		}
	case float32:
		tagged('f', math.Float64bits(float64(x)))
	case float64:
		tagged('f', math.Float64bits(x))
	case string:
		str(x)
	case []byte:
		str(string(x))
	case []any:
		tagged('a', uint64(len(x)))
		for _, e := range x {
			writeCanonical(w, e)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		tagged('m', uint64(len(x)))
		for _, k := range keys {
			str(k)
			writeCanonical(w, x[k])
		}
	case Record:
		writeCanonical(w, map[string]any(x))
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = e
		}
		writeCanonical(w, m)
	default:
		str(fmt.Sprintf("%T:%v", x, x))
	}
}
