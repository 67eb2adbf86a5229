package parser

import "github.com/tinylib/msgp/msgp"

// msgpack appenders: tinylib/msgp's allocation-free Append functions, plus
// the two it lacks here. Strings are written with the str family (raw bytes,
// as Fluentd's msgpack-ruby writes Ruby strings).

// appendStrHeader appends a str header for n bytes (apache.go writes the
// bytes after it in pieces).
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

// appendInt appends v in its smallest encoding, unsigned formats for v >= 0
// as msgpack-ruby writes them.
func appendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return msgp.AppendUint64(b, uint64(v))
	}
	return msgp.AppendInt64(b, v)
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
		h = msgp.AppendArrayHeader(hdr[:0], uint32(n))
	} else {
		h = msgp.AppendMapHeader(hdr[:0], uint32(n))
	}
	copy(b[start:], h)
	body := start + headerReserve
	m := copy(b[start+len(h):], b[body:])
	return b[:start+len(h)+m]
}
