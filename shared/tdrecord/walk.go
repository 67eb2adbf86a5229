package tdrecord

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ColumnType is the msgpack type family of a top-level value, as a catalog
// schema sees it. String returns TD's type name.
type ColumnType uint8

// Column types.
const (
	ColumnNil ColumnType = iota
	ColumnBoolean
	ColumnLong
	ColumnDouble
	ColumnString
	ColumnBinary
	ColumnArray
	ColumnMap
)

var columnNames = [...]string{"", "boolean", "long", "double", "string", "binary", "array", "map"}

// String returns TD's type name of t ("long", "double", ...); "" for nil.
func (t ColumnType) String() string {
	if int(t) < len(columnNames) {
		return columnNames[t]
	}
	return "unknown"
}

// columnType returns the type of the value whose first byte is c.
func columnType(c byte) ColumnType {
	switch {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		return ColumnLong
	case c >= 0x80 && c <= 0x8f, c == 0xde, c == 0xdf:
		return ColumnMap
	case c >= 0x90 && c <= 0x9f, c == 0xdc, c == 0xdd:
		return ColumnArray
	case c >= 0xa0 && c <= 0xbf, c == 0xd9, c == 0xda, c == 0xdb:
		return ColumnString
	case c == 0xc2 || c == 0xc3:
		return ColumnBoolean
	case c == 0xca || c == 0xcb:
		return ColumnDouble
	case c == 0xc4 || c == 0xc5 || c == 0xc6:
		return ColumnBinary
	}
	return ColumnNil
}

// Event is one validated event of a stream.
type Event struct {
	Start, End int   // the event's map is stream[Start:End]
	Time       int64 // its "time", Unix seconds
}

// Walker validates a decompressed msgpack map stream in place, without
// allocating: each top-level value must be a map with str or bin keys, an
// integer "time" (see the package doc) and no more than the configured
// keys, depth and size; nested map keys must be strings too, and extension
// types are refused (TD import bodies carry none).
type Walker struct {
	Limits Limits
	// Column, when not nil, is called for every top-level key other than
	// "time", with the type of its value. key aliases the stream.
	Column func(key []byte, t ColumnType)
}

// Walk validates the whole stream raw, calling fn (when not nil) for every
// event in order, and returns the number of events. It fails on the first
// invalid event, or once there are more than Limits.MaxEvents.
func (w *Walker) Walk(raw []byte, fn func(Event)) (int, error) {
	n, p := 0, 0
	for p < len(raw) {
		if n >= w.Limits.MaxEvents {
			return n, fail(KindTooManyEvents, "request has more than %d events", w.Limits.MaxEvents)
		}
		ev, err := w.Next(raw, p, n)
		if err != nil {
			return n, err
		}
		if fn != nil {
			fn(ev)
		}
		n++
		p = ev.End
	}
	return n, nil
}

// Next validates the event that starts at offset p of raw; idx is its
// 0-based index, used in messages.
func (w *Walker) Next(b []byte, p, idx int) (Event, error) {
	start := p
	n, p, ok := mapHeader(b, p)
	if !ok {
		if p < 0 {
			return Event{}, fail(KindBadMsgpack, "invalid msgpack: event %d is truncated", idx)
		}
		return Event{}, fail(KindNotMap, "invalid msgpack: event %d is not a map (type byte 0x%02x)", idx, b[start])
	}
	if n > w.Limits.MaxKeys {
		return Event{}, fail(KindTooManyKeys, "event %d has %d keys, limit %d", idx, n, w.Limits.MaxKeys)
	}
	var (
		t       int64
		hasTime bool
	)
	for k := 0; k < n; k++ {
		ks, ke, next, ok := strBytes(b, p)
		if !ok {
			if next < 0 {
				return Event{}, fail(KindBadMsgpack, "invalid msgpack: event %d is truncated", idx)
			}
			return Event{}, fail(KindBadMsgpack, "invalid msgpack: event %d has a key that is not a string", idx)
		}
		p = next
		if ke-ks == 4 && string(b[ks:ke]) == "time" {
			v, next, kind := intValue(b, p)
			switch kind {
			case intOK:
				t, hasTime, p = v, true, next
				continue
			case intTruncated:
				return Event{}, fail(KindBadMsgpack, "invalid msgpack: event %d is truncated", idx)
			default:
				return Event{}, fail(KindTimeInvalid, "event %d: \"time\" must be an integer (Unix seconds), got msgpack type 0x%02x", idx, b[p])
			}
		}
		end, err := skip(b, p, 1, w.Limits.MaxDepth)
		if err != nil {
			if errors.Is(err, errTooDeep) {
				return Event{}, fail(KindTooDeep, "event %d nests deeper than %d levels", idx, w.Limits.MaxDepth)
			}
			return Event{}, &Error{Kind: KindBadMsgpack, Msg: fmt.Sprintf("invalid msgpack in event %d: %v", idx, err), Err: err}
		}
		if w.Column != nil {
			w.Column(b[ks:ke], columnType(b[p]))
		}
		p = end
	}
	if p-start > w.Limits.MaxRecordBytes {
		return Event{}, fail(KindRecordTooLarge, "event %d is %d bytes, limit %d", idx, p-start, w.Limits.MaxRecordBytes)
	}
	if !hasTime {
		return Event{}, fail(KindTimeMissing, "event %d has no \"time\" key", idx)
	}
	return Event{Start: start, End: p, Time: t}, nil
}

// ValueLen validates the one msgpack value at the start of b, nesting at
// most maxDepth containers (nested map keys must be strings, extension types
// are refused), and returns its length. Nothing is allocated, and no length
// is trusted beyond the bytes present, so a decoder given b[:n] never
// allocates more than len(b) elements.
func ValueLen(b []byte, maxDepth int) (int, error) {
	n, err := skip(b, 0, 0, maxDepth+1)
	if err != nil {
		if errors.Is(err, errTooDeep) {
			return 0, fail(KindTooDeep, "msgpack nests deeper than %d levels", maxDepth)
		}
		return 0, &Error{Kind: KindBadMsgpack, Msg: "invalid msgpack: " + err.Error(), Err: err}
	}
	return n, nil
}

// Sentinel causes of KindBadMsgpack and KindTooDeep failures.
var (
	errTruncated = errors.New("truncated msgpack value")
	errTooDeep   = errors.New("nesting too deep")
	errReserved  = errors.New("reserved msgpack type byte 0xc1")
	// errExt rejects msgpack extension types: TD import bodies carry none,
	// and downstream decoders would refuse them.
	errExt = errors.New("msgpack extension types are not supported")
	// errMapKey rejects nested map keys that are not strings: downstream
	// decoders read maps as string-keyed.
	errMapKey = errors.New("map key is not a string")
)

// mapHeader reads a map header at p. On failure next is -1 when truncated.
func mapHeader(b []byte, p int) (n, next int, ok bool) {
	if p >= len(b) {
		return 0, -1, false
	}
	c := b[p]
	switch {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f), p + 1, true
	case c == 0xde:
		if p+3 > len(b) {
			return 0, -1, false
		}
		return int(binary.BigEndian.Uint16(b[p+1:])), p + 3, true
	case c == 0xdf:
		if p+5 > len(b) {
			return 0, -1, false
		}
		v := binary.BigEndian.Uint32(b[p+1:])
		if uint64(v) > uint64(len(b)) { // each entry needs at least 2 bytes
			return 0, -1, false
		}
		return int(v), p + 5, true
	}
	return 0, p, false
}

// strBytes reads a str or bin value at p and returns its content bounds.
// next is -1 when truncated.
func strBytes(b []byte, p int) (s, e, next int, ok bool) {
	if p >= len(b) {
		return 0, 0, -1, false
	}
	c := b[p]
	var n, h int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n, h = int(c&0x1f), 1
	case c == 0xd9 || c == 0xc4:
		if p+2 > len(b) {
			return 0, 0, -1, false
		}
		n, h = int(b[p+1]), 2
	case c == 0xda || c == 0xc5:
		if p+3 > len(b) {
			return 0, 0, -1, false
		}
		n, h = int(binary.BigEndian.Uint16(b[p+1:])), 3
	case c == 0xdb || c == 0xc6:
		if p+5 > len(b) {
			return 0, 0, -1, false
		}
		n, h = int(binary.BigEndian.Uint32(b[p+1:])), 5
	default:
		return 0, 0, p, false
	}
	if n > len(b)-p-h {
		return 0, 0, -1, false
	}
	return p + h, p + h + n, p + h + n, true
}

const (
	intOK = iota
	intNotInt
	intTruncated
)

// intValue reads an integer at p that fits int64 (see the package doc).
func intValue(b []byte, p int) (int64, int, int) {
	if p >= len(b) {
		return 0, p, intTruncated
	}
	c := b[p]
	need := func(n int) bool { return p+1+n <= len(b) }
	switch {
	case c <= 0x7f:
		return int64(c), p + 1, intOK
	case c >= 0xe0:
		return int64(int8(c)), p + 1, intOK
	case c == 0xcc || c == 0xd0:
		if !need(1) {
			return 0, p, intTruncated
		}
		if c == 0xcc {
			return int64(b[p+1]), p + 2, intOK
		}
		return int64(int8(b[p+1])), p + 2, intOK
	case c == 0xcd || c == 0xd1:
		if !need(2) {
			return 0, p, intTruncated
		}
		v := binary.BigEndian.Uint16(b[p+1:])
		if c == 0xcd {
			return int64(v), p + 3, intOK
		}
		return int64(int16(v)), p + 3, intOK
	case c == 0xce || c == 0xd2:
		if !need(4) {
			return 0, p, intTruncated
		}
		v := binary.BigEndian.Uint32(b[p+1:])
		if c == 0xce {
			return int64(v), p + 5, intOK
		}
		return int64(int32(v)), p + 5, intOK
	case c == 0xcf || c == 0xd3:
		if !need(8) {
			return 0, p, intTruncated
		}
		v := binary.BigEndian.Uint64(b[p+1:])
		if c == 0xcf && v > math.MaxInt64 {
			return 0, p, intNotInt
		}
		return int64(v), p + 9, intOK
	}
	return 0, p, intNotInt
}

// skip validates the value at p and returns the offset after it. depth is
// the nesting level of the value (1 = a value of a top-level key).
func skip(b []byte, p, depth, maxDepth int) (int, error) {
	if p >= len(b) {
		return 0, errTruncated
	}
	c := b[p]
	fixed := func(n int) (int, error) {
		if p+n > len(b) {
			return 0, errTruncated
		}
		return p + n, nil
	}
	sized := func(h, n int) (int, error) {
		if p+h > len(b) || n > len(b)-p-h {
			return 0, errTruncated
		}
		return p + h + n, nil
	}
	u8 := func() int { return int(b[p+1]) }
	u16 := func() int { return int(binary.BigEndian.Uint16(b[p+1:])) }
	u32 := func() int { return int(binary.BigEndian.Uint32(b[p+1:])) }
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return p + 1, nil
	case c >= 0xa0 && c <= 0xbf:
		return sized(1, int(c&0x1f))
	case c >= 0x80 && c <= 0x8f:
		return mapBody(b, p+1, int(c&0x0f), depth, maxDepth)
	case c >= 0x90 && c <= 0x9f:
		return container(b, p+1, int(c&0x0f), depth, maxDepth)
	}
	switch c {
	case 0xc1:
		return 0, errReserved
	case 0xcc, 0xd0:
		return fixed(2)
	case 0xcd, 0xd1:
		return fixed(3)
	case 0xce, 0xd2, 0xca:
		return fixed(5)
	case 0xcf, 0xd3, 0xcb:
		return fixed(9)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9:
		return 0, errExt
	}
	// Types with a length header.
	var hdr int
	switch c {
	case 0xc4, 0xd9:
		hdr = 2
	case 0xc5, 0xda, 0xdc, 0xde:
		hdr = 3
	case 0xc6, 0xdb, 0xdd, 0xdf:
		hdr = 5
	}
	if p+hdr > len(b) {
		return 0, errTruncated
	}
	switch c {
	case 0xc4, 0xd9:
		return sized(2, u8())
	case 0xc5, 0xda:
		return sized(3, u16())
	case 0xc6, 0xdb:
		return sized(5, u32())
	case 0xdc:
		return container(b, p+3, u16(), depth, maxDepth)
	case 0xdd:
		return container(b, p+5, u32(), depth, maxDepth)
	case 0xde:
		return mapBody(b, p+3, u16(), depth, maxDepth)
	case 0xdf:
		return mapBody(b, p+5, u32(), depth, maxDepth)
	}
	return 0, errReserved
}

// mapBody validates n key/value pairs; keys must be str or bin.
func mapBody(b []byte, p, n, depth, maxDepth int) (int, error) {
	if depth >= maxDepth && n > 0 {
		return 0, errTooDeep
	}
	if n > (len(b)-p)/2 {
		return 0, errTruncated
	}
	for i := 0; i < n; i++ {
		_, _, next, ok := strBytes(b, p)
		if !ok {
			if next < 0 {
				return 0, errTruncated
			}
			return 0, errMapKey
		}
		var err error
		if p, err = skip(b, next, depth+1, maxDepth); err != nil {
			return 0, err
		}
	}
	return p, nil
}

// container validates n array elements.
func container(b []byte, p, n, depth, maxDepth int) (int, error) {
	if depth >= maxDepth && n > 0 {
		return 0, errTooDeep
	}
	if depth >= maxDepth {
		return p, nil
	}
	if n > len(b)-p { // every element needs at least one byte
		return 0, errTruncated
	}
	var err error
	for i := 0; i < n; i++ {
		if p, err = skip(b, p, depth+1, maxDepth); err != nil {
			return 0, err
		}
	}
	return p, nil
}
