package ingest

import (
	"encoding/binary"
	"errors"
	"math"
	"net/http"
)

// errTruncated is returned by the walker when a value runs past the data.
var errTruncated = errors.New("truncated msgpack value")

// walker validates a msgpack map stream in place, without allocating: each
// top-level value must be a map with string keys, an integer "time" and the
// configured key count, depth and size.
type walker struct {
	lim Limits
}

// eventInfo is what the walker learns about one event.
type eventInfo struct {
	end  int   // offset just past the event
	time int64 // its "time"
}

// event validates the map starting at p and returns its end and time. idx is
// the event's 0-based index, used in messages.
func (w *walker) event(b []byte, p, idx int) (eventInfo, *apiError) {
	start := p
	n, p, ok := mapHeader(b, p)
	if !ok {
		if p < 0 {
			return eventInfo{}, reject(http.StatusBadRequest, reasonBadMsgpack, "invalid msgpack: event %d is truncated", idx)
		}
		return eventInfo{}, reject(http.StatusBadRequest, reasonNotMap, "invalid msgpack: event %d is not a map (type byte 0x%02x)", idx, b[start])
	}
	if n > w.lim.MaxKeys {
		return eventInfo{}, reject(http.StatusUnprocessableEntity, reasonTooManyKeys, "event %d has %d keys, limit %d", idx, n, w.lim.MaxKeys)
	}
	var (
		t       int64
		hasTime bool
	)
	for k := 0; k < n; k++ {
		ks, ke, next, ok := strBytes(b, p)
		if !ok {
			if next < 0 {
				return eventInfo{}, reject(http.StatusBadRequest, reasonBadMsgpack, "invalid msgpack: event %d is truncated", idx)
			}
			return eventInfo{}, reject(http.StatusBadRequest, reasonBadMsgpack, "invalid msgpack: event %d has a key that is not a string", idx)
		}
		p = next
		if ke-ks == 4 && string(b[ks:ke]) == "time" {
			v, next, kind := intValue(b, p)
			switch kind {
			case intOK:
				t, hasTime, p = v, true, next
				continue
			case intTruncated:
				return eventInfo{}, reject(http.StatusBadRequest, reasonBadMsgpack, "invalid msgpack: event %d is truncated", idx)
			default:
				return eventInfo{}, reject(http.StatusUnprocessableEntity, reasonTimeInvalid, "event %d: \"time\" must be an integer (Unix seconds), got msgpack type 0x%02x", idx, b[p])
			}
		}
		end, err := skip(b, p, 1, w.lim.MaxDepth)
		if err != nil {
			if errors.Is(err, errTooDeep) {
				return eventInfo{}, reject(http.StatusUnprocessableEntity, reasonTooDeep, "event %d nests deeper than %d levels", idx, w.lim.MaxDepth)
			}
			return eventInfo{}, reject(http.StatusBadRequest, reasonBadMsgpack, "invalid msgpack in event %d: %v", idx, err)
		}
		p = end
	}
	if p-start > w.lim.MaxRecordBytes {
		return eventInfo{}, reject(http.StatusRequestEntityTooLarge, reasonRecordTooLarge, "event %d is %d bytes, limit %d", idx, p-start, w.lim.MaxRecordBytes)
	}
	if !hasTime {
		return eventInfo{}, reject(http.StatusUnprocessableEntity, reasonTimeMissing, "event %d has no \"time\" key", idx)
	}
	return eventInfo{end: p, time: t}, nil
}

var (
	errTooDeep  = errors.New("nesting too deep")
	errReserved = errors.New("reserved msgpack type byte 0xc1")
	// errExt rejects msgpack extension types: TD import bodies carry none,
	// and downstream decoders would refuse them.
	errExt = errors.New("msgpack extension types are not supported")
)

// mapHeader reads a map header at p. On failure p is -1 when truncated.
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

// intValue reads an integer at p that fits int64.
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

// errMapKey rejects nested map keys that are not strings: downstream
// decoders read maps as string-keyed.
var errMapKey = errors.New("map key is not a string")

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
