package forwardin

import (
	"encoding/binary"
	"errors"
)

// A minimal msgpack reader over complete byte slices: enough to frame a
// message and walk the forward protocol's arrays. Record maps and their
// times are shared/tdrecord's (RawSeconds, AppendRawRecord).

var (
	// errShort means b holds only the beginning of an object.
	errShort = errors.New("incomplete msgpack object")
	// errFormat means the bytes are not msgpack (0xc1 is never used).
	errFormat = errors.New("invalid msgpack")
)

// objLen returns the size of the first complete msgpack object in b, or
// errShort / errFormat. It is iterative, so nesting depth costs no stack.
func objLen(b []byte) (int, error) {
	pending := uint64(1)
	i := 0
	for pending > 0 {
		if i >= len(b) {
			return 0, errShort
		}
		_, size, items, err := header(b[i:])
		if err != nil {
			return 0, err
		}
		if size > uint64(len(b)-i) {
			return 0, errShort
		}
		i += int(size)
		pending += items
		pending--
	}
	return i, nil
}

// header decodes the header of the object at b: hlen is the header size,
// size the header plus any inline payload (strings, bins, exts, scalars),
// items the number of child objects that follow (arrays: n, maps: 2n).
func header(b []byte) (hlen int, size uint64, items uint64, err error) {
	c := b[0]
	need := func(n int) bool { return len(b) >= n }
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		return 1, 1, 0, nil
	case c >= 0x80 && c <= 0x8f:
		return 1, 1, 2 * uint64(c&0x0f), nil
	case c >= 0x90 && c <= 0x9f:
		return 1, 1, uint64(c & 0x0f), nil
	case c >= 0xa0 && c <= 0xbf:
		return 1, 1 + uint64(c&0x1f), 0, nil
	}
	switch c {
	case 0xc1:
		return 0, 0, 0, errFormat
	case 0xc4, 0xd9: // bin8, str8
		if !need(2) {
			return 0, 0, 0, errShort
		}
		return 2, 2 + uint64(b[1]), 0, nil
	case 0xc5, 0xda: // bin16, str16
		if !need(3) {
			return 0, 0, 0, errShort
		}
		return 3, 3 + uint64(binary.BigEndian.Uint16(b[1:])), 0, nil
	case 0xc6, 0xdb: // bin32, str32
		if !need(5) {
			return 0, 0, 0, errShort
		}
		return 5, 5 + uint64(binary.BigEndian.Uint32(b[1:])), 0, nil
	case 0xc7: // ext8
		if !need(3) {
			return 0, 0, 0, errShort
		}
		return 3, 3 + uint64(b[1]), 0, nil
	case 0xc8: // ext16
		if !need(4) {
			return 0, 0, 0, errShort
		}
		return 4, 4 + uint64(binary.BigEndian.Uint16(b[1:])), 0, nil
	case 0xc9: // ext32
		if !need(6) {
			return 0, 0, 0, errShort
		}
		return 6, 6 + uint64(binary.BigEndian.Uint32(b[1:])), 0, nil
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return 1, 5, 0, nil
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return 1, 9, 0, nil
	case 0xcc, 0xd0:
		return 1, 2, 0, nil
	case 0xcd, 0xd1:
		return 1, 3, 0, nil
	case 0xd4: // fixext1
		return 2, 3, 0, nil
	case 0xd5:
		return 2, 4, 0, nil
	case 0xd6:
		return 2, 6, 0, nil
	case 0xd7:
		return 2, 10, 0, nil
	case 0xd8:
		return 2, 18, 0, nil
	case 0xdc: // array16
		if !need(3) {
			return 0, 0, 0, errShort
		}
		return 3, 3, uint64(binary.BigEndian.Uint16(b[1:])), nil
	case 0xdd:
		if !need(5) {
			return 0, 0, 0, errShort
		}
		return 5, 5, uint64(binary.BigEndian.Uint32(b[1:])), nil
	case 0xde: // map16
		if !need(3) {
			return 0, 0, 0, errShort
		}
		return 3, 3, 2 * uint64(binary.BigEndian.Uint16(b[1:])), nil
	case 0xdf:
		if !need(5) {
			return 0, 0, 0, errShort
		}
		return 5, 5, 2 * uint64(binary.BigEndian.Uint32(b[1:])), nil
	}
	return 0, 0, 0, errFormat
}

// split returns the first complete object of b and the rest. b must hold
// complete objects (callers framed the message first).
func split(b []byte) (obj, rest []byte, err error) {
	n, err := objLen(b)
	if err != nil {
		return nil, nil, err
	}
	return b[:n], b[n:], nil
}

// arrayLen reads an array header: element count and the elements' bytes.
func arrayLen(b []byte) (int, []byte, bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	c := b[0]
	switch {
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f), b[1:], true
	case c == 0xdc && len(b) >= 3:
		return int(binary.BigEndian.Uint16(b[1:])), b[3:], true
	case c == 0xdd && len(b) >= 5:
		return int(binary.BigEndian.Uint32(b[1:])), b[5:], true
	}
	return 0, nil, false
}

// mapLen reads a map header: pair count and the pairs' bytes.
func mapLen(b []byte) (int, []byte, bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	c := b[0]
	switch {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f), b[1:], true
	case c == 0xde && len(b) >= 3:
		return int(binary.BigEndian.Uint16(b[1:])), b[3:], true
	case c == 0xdf && len(b) >= 5:
		return int(binary.BigEndian.Uint32(b[1:])), b[5:], true
	}
	return 0, nil, false
}

// rawString returns the bytes of a str or bin object (a whole object).
func rawString(obj []byte) ([]byte, bool) {
	if len(obj) == 0 {
		return nil, false
	}
	c := obj[0]
	switch {
	case c >= 0xa0 && c <= 0xbf:
		return obj[1:], true
	case (c == 0xd9 || c == 0xc4) && len(obj) >= 2:
		return obj[2:], true
	case (c == 0xda || c == 0xc5) && len(obj) >= 3:
		return obj[3:], true
	case (c == 0xdb || c == 0xc6) && len(obj) >= 5:
		return obj[5:], true
	}
	return nil, false
}

func isArray(obj []byte) bool {
	_, _, ok := arrayLen(obj)
	return ok
}

func isMap(obj []byte) bool {
	_, _, ok := mapLen(obj)
	return ok
}

func isNil(obj []byte) bool { return len(obj) == 1 && obj[0] == 0xc0 }

// appendStr appends s as a msgpack str.
func appendStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}
