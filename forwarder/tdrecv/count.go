package tdrecv

import (
	"encoding/binary"
	"errors"
)

// errTruncated is returned by countRecords for a value cut short.
var errTruncated = errors.New("truncated msgpack value")

// errBadType is returned by countRecords for a reserved type byte or a
// top-level value that is not a map.
var errBadType = errors.New("invalid msgpack type")

// maxDepth bounds nesting in countRecords.
const maxDepth = 64

// countRecords returns how many top-level maps the msgpack stream b holds,
// checking that every value is complete. It walks the bytes in place,
// several times faster than decoding, so the receiver costs little in
// benchmarks.
func countRecords(b []byte) (int, error) {
	n := 0
	for p := 0; p < len(b); n++ {
		if c := b[p]; !(c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf) {
			return n, errBadType
		}
		var err error
		if p, err = skipValue(b, p, 0); err != nil {
			return n, err
		}
	}
	return n, nil
}

// skipValue returns the offset just past the msgpack value at p.
func skipValue(b []byte, p, depth int) (int, error) {
	if p >= len(b) {
		return 0, errTruncated
	}
	if depth > maxDepth {
		return 0, errBadType
	}
	c := b[p]
	var size, elems int // bytes after the header; nested values after it
	hdr := 1
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
	case c <= 0x8f:
		elems = 2 * int(c&0x0f)
	case c <= 0x9f:
		elems = int(c & 0x0f)
	case c <= 0xbf:
		size = int(c & 0x1f)
	case c == 0xcc || c == 0xd0:
		size = 1
	case c == 0xcd || c == 0xd1:
		size = 2
	case c == 0xca || c == 0xce || c == 0xd2:
		size = 4
	case c == 0xcb || c == 0xcf || c == 0xd3:
		size = 8
	case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16 (+ type byte)
		size = 1 + 1<<(c-0xd4)
	case c == 0xc4 || c == 0xd9 || c == 0xc7: // bin8, str8, ext8
		hdr = 2
	case c == 0xc5 || c == 0xda || c == 0xc8 || c == 0xdc || c == 0xde:
		hdr = 3
	case c == 0xc6 || c == 0xdb || c == 0xc9 || c == 0xdd || c == 0xdf:
		hdr = 5
	default: // 0xc1
		return 0, errBadType
	}
	if hdr > 1 {
		if p+hdr > len(b) {
			return 0, errTruncated
		}
		var l int
		switch hdr {
		case 2:
			l = int(b[p+1])
		case 3:
			l = int(binary.BigEndian.Uint16(b[p+1:]))
		default:
			l = int(binary.BigEndian.Uint32(b[p+1:]))
		}
		switch c {
		case 0xdc, 0xdd:
			elems = l
		case 0xde, 0xdf:
			elems = 2 * l
		case 0xc7, 0xc8, 0xc9:
			size = l + 1 // ext type byte
		default:
			size = l
		}
	}
	p += hdr
	if size > len(b)-p || elems > len(b)-p {
		return 0, errTruncated
	}
	p += size
	var err error
	for i := 0; i < elems; i++ {
		if p, err = skipValue(b, p, depth+1); err != nil {
			return 0, err
		}
	}
	return p, nil
}
