package parser

import (
	"encoding/binary"
	"math"
)

// Minimal allocation-free msgpack appenders. Strings are written with the
// str family (raw bytes, as Fluentd's msgpack-ruby writes Ruby strings).

func appendNil(b []byte) []byte { return append(b, 0xc0) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

func appendStrHeader(b []byte, n int) []byte {
	switch {
	case n < 32:
		return append(b, 0xa0|byte(n))
	case n < 1<<8:
		return append(b, 0xd9, byte(n))
	case n < 1<<16:
		return append(b, 0xda, byte(n>>8), byte(n))
	default:
		return append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func appendStr(b []byte, s string) []byte {
	return append(appendStrHeader(b, len(s)), s...)
}

func appendStrBytes(b []byte, s []byte) []byte {
	return append(appendStrHeader(b, len(s)), s...)
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v < 128:
		return append(b, byte(v))
	case v < 0 && v >= -32:
		return append(b, byte(v))
	case v >= 0 && v < 1<<8:
		return append(b, 0xcc, byte(v))
	case v >= 0 && v < 1<<16:
		return append(b, 0xcd, byte(v>>8), byte(v))
	case v >= 0 && v < 1<<32:
		return append(b, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	case v >= 0:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(v))
	case v >= math.MinInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16:
		return append(b, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
	}
}

func appendUint(b []byte, v uint64) []byte {
	if v <= math.MaxInt64 {
		return appendInt(b, int64(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func appendFloat(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f))
}

func appendArrayHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n < 1<<16:
		return append(b, 0xdc, byte(n>>8), byte(n))
	default:
		return append(b, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n < 1<<16:
		return append(b, 0xde, byte(n>>8), byte(n))
	default:
		return append(b, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// headerReserve is the largest map/array header size.
const headerReserve = 5

// fixHeader writes the minimal map (or array) header for n entries in front of
// the body that was appended to b after start+headerReserve, moving the body
// down over the unused reserve bytes.
func fixHeader(b []byte, start, n int, array bool) []byte {
	var hdr [headerReserve]byte
	var h []byte
	if array {
		h = appendArrayHeader(hdr[:0], n)
	} else {
		h = appendMapHeader(hdr[:0], n)
	}
	copy(b[start:], h)
	body := start + headerReserve
	m := copy(b[start+len(h):], b[body:])
	return b[:start+len(h)+m]
}
