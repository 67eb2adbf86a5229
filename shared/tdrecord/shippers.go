package tdrecord

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/vmihailenco/msgpack/v5"
)

// This file holds what DecodeInHTTP reads beyond Fluentd's own in_http: the
// bodies that log shippers' HTTP outputs send (Fluent Bit out_http, Fluentd
// out_http, Vector's http sink).

// snappyStreamMagic starts a body in snappy's framing format.
var snappyStreamMagic = []byte("\xff\x06\x00\x00sNaPpY")

// Unsnappy decompresses a snappy body within the same limits as Gunzip: the
// framing format (a stream starting with the stream identifier chunk), or
// else one raw snappy block, which is what Fluent Bit's "Compress snappy"
// sends. A block declares its decompressed length up front; it is checked
// against the limits before anything is allocated.
func Unsnappy(body []byte, lim Limits, dst []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, fail(KindBadCompression, "body is not snappy: empty body")
	}
	if bytes.HasPrefix(body, snappyStreamMagic) {
		return readLimited(snappy.NewReader(bytes.NewReader(body)), len(body), lim, dst, "snappy")
	}
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, &Error{Kind: KindBadCompression, Msg: fmt.Sprintf("body is not snappy: %v", err), Err: err}
	}
	if n > lim.MaxDecompressedBytes {
		return nil, fail(KindDecompressedTooLarge, "decompressed body exceeds %d bytes", lim.MaxDecompressedBytes)
	}
	if lim.MaxCompressionRatio > 0 && n > max(len(body)*lim.MaxCompressionRatio, lim.RatioFloorBytes) {
		return nil, fail(KindRatio, "snappy body expands more than %d times (%d compressed bytes)", lim.MaxCompressionRatio, len(body))
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	out, err := snappy.Decode(dst[:n], body)
	if err != nil {
		return nil, &Error{Kind: KindBadCompression, Msg: fmt.Sprintf("invalid snappy body: %v", err), Err: err}
	}
	return out, nil
}

// jsonStreamRecords decodes one or more JSON values one after another
// (whitespace between them or not): an object, an array of objects, or
// objects back to back as Fluent Bit's json_stream format sends them.
func jsonStreamRecords(body []byte, lim Limits) ([]map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var out []map[string]any
	for i := 0; ; i++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) && i > 0 {
			return out, nil
		}
		if err != nil {
			return nil, &Error{Kind: KindBadJSON, Msg: "invalid JSON: " + err.Error(), Err: err}
		}
		if i > 0 {
			if _, ok := v.(map[string]any); !ok {
				return nil, fail(KindBadJSON, "invalid JSON: data after the first value (value %d is a %s, not an object)", i, typeName(v))
			}
		}
		recs, err := asRecords(v, lim)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		if len(out) > lim.MaxEvents {
			return nil, fail(KindTooManyEvents, "request has more than %d events", lim.MaxEvents)
		}
	}
}

// msgpackEvents decodes a msgpack body: one or more values back to back,
// each a map (a record), an array of maps (Fluentd in_http's batch), or a
// Fluent Bit / Fluentd event: [time, record] or, in Fluent Bit 2.1+,
// [[time, metadata], record], where time is an EventTime (extension type 0:
// seconds and nanoseconds, 8 bytes big-endian) or a number of seconds. It
// returns the records and, for each, its event time in seconds (0: none).
// The bytes are bounded by the walker before the decoder sees them.
func msgpackEvents(body []byte, lim Limits) ([]map[string]any, []int64, error) {
	var recs []map[string]any
	var times []int64
	for p := 0; p < len(body); {
		t, rec, next, isEvent, err := fluentEvent(body, p, lim)
		if err != nil {
			return nil, nil, err
		}
		if isEvent {
			if err := checkValue(rec, lim, 0, len(recs)); err != nil {
				return nil, nil, err
			}
			recs, times = append(recs, rec), append(times, t)
		} else {
			n, err := ValueLen(body[p:], lim.MaxDepth)
			if err != nil {
				return nil, nil, err
			}
			var v any
			if err := msgpack.Unmarshal(body[p:p+n], &v); err != nil {
				return nil, nil, &Error{Kind: KindBadMsgpack, Msg: "invalid msgpack: " + err.Error(), Err: err}
			}
			switch v.(type) {
			case map[string]any, []any:
			default:
				if p > 0 {
					return nil, nil, fail(KindBadMsgpack, "invalid msgpack: %d bytes after the records (a %s)", len(body)-p, typeName(v))
				}
			}
			rs, err := asRecords(v, lim)
			if err != nil {
				return nil, nil, err
			}
			recs = append(recs, rs...)
			for range rs {
				times = append(times, 0)
			}
			next = p + n
		}
		if len(recs) > lim.MaxEvents {
			return nil, nil, fail(KindTooManyEvents, "request has more than %d events", lim.MaxEvents)
		}
		p = next
	}
	return recs, times, nil
}

// fluentEvent reads the value at b[p:] as a Fluent event ([time, record] or
// [[time, metadata], record]). isEvent is false (and err nil) when the value
// is something else, for the caller to read as a record or batch.
func fluentEvent(b []byte, p int, lim Limits) (t int64, rec map[string]any, next int, isEvent bool, err error) {
	if p >= len(b) || b[p] != 0x92 || p+1 >= len(b) {
		return 0, nil, 0, false, nil
	}
	q := p + 1
	switch {
	case b[q] == 0x92: // [[time, metadata], record]
		t, q, err = eventTime(b, q+1)
		if err != nil {
			return 0, nil, 0, false, err
		}
		n, err := ValueLen(b[q:], lim.MaxDepth) // metadata: skipped
		if err != nil {
			return 0, nil, 0, false, err
		}
		q += n
	case b[q] == 0xd7 || isMsgpackNumber(b[q]):
		t, q, err = eventTime(b, q)
		if err != nil {
			return 0, nil, 0, false, err
		}
	default:
		return 0, nil, 0, false, nil // e.g. an array of two maps
	}
	n, err := ValueLen(b[q:], lim.MaxDepth)
	if err != nil {
		return 0, nil, 0, false, err
	}
	var v any
	if err := msgpack.Unmarshal(b[q:q+n], &v); err != nil {
		return 0, nil, 0, false, &Error{Kind: KindBadMsgpack, Msg: "invalid msgpack: " + err.Error(), Err: err}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return 0, nil, 0, false, fail(KindNotMap, "invalid msgpack: the record of a [time, record] event is a %s, not a map", typeName(v))
	}
	return t, m, q + n, true, nil
}

// isMsgpackNumber reports whether c starts a msgpack integer or float.
func isMsgpackNumber(c byte) bool {
	return c <= 0x7f || c >= 0xe0 || (c >= 0xca && c <= 0xd3)
}

// eventTime reads an event time at b[p:]: an EventTime extension (fixext8,
// type 0) or a msgpack number, as seconds.
func eventTime(b []byte, p int) (int64, int, error) {
	if p >= len(b) {
		return 0, 0, fail(KindBadMsgpack, "invalid msgpack: event time is truncated")
	}
	if b[p] == 0xd7 {
		if p+10 > len(b) {
			return 0, 0, fail(KindBadMsgpack, "invalid msgpack: event time is truncated")
		}
		if b[p+1] != 0 {
			return 0, 0, fail(KindBadMsgpack, "invalid msgpack: extension type %d is not an EventTime (0)", int8(b[p+1]))
		}
		return int64(binary.BigEndian.Uint32(b[p+2:])), p + 10, nil
	}
	if !isMsgpackNumber(b[p]) {
		return 0, 0, fail(KindTimeInvalid, "event time must be an EventTime or a number of seconds")
	}
	n, err := ValueLen(b[p:], 1)
	if err != nil {
		return 0, 0, err
	}
	var v any
	if err := msgpack.Unmarshal(b[p:p+n], &v); err != nil {
		return 0, 0, &Error{Kind: KindBadMsgpack, Msg: "invalid msgpack: " + err.Error(), Err: err}
	}
	t, err := Seconds(v)
	if err != nil {
		return 0, 0, &Error{Kind: KindTimeInvalid, Msg: "event time must be a number of seconds", Err: err}
	}
	return t, p + n, nil
}

// msThreshold: a time_key number at or above it (the year 5138 in seconds)
// is taken as milliseconds (Fluent Bit's json_date_format epoch_ms).
const msThreshold = 1e11

// timeLayouts are the time_key text formats: RFC 3339 (Fluent Bit's
// iso8601, Vector's timestamp) and Fluent Bit's java_sql_timestamp (UTC).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"}

// KeySeconds reads the value of a time_key field as Unix seconds: a number
// of seconds (fractions floored; at or above 1e11 it is milliseconds), a
// numeric string, or an RFC 3339 / "2006-01-02 15:04:05.999999" (UTC) text.
func KeySeconds(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		s := strings.TrimSpace(x)
		if t, err := ParseSeconds(s); err == nil {
			return msOrSeconds(float64(t), t), nil
		}
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.Unix(), nil
			}
		}
		return 0, fmt.Errorf("time %q: %w (not a number or an RFC 3339 time)", clip(x, 64), ErrTime)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return 0, fmt.Errorf("time %q: %w", clip(string(x), 64), ErrTime)
		}
		t, err := Seconds(x)
		if err != nil && math.Abs(f) < msThreshold {
			return 0, err
		}
		return msOrSeconds(f, t), nil
	}
	t, err := Seconds(v)
	if err != nil {
		return 0, err
	}
	return msOrSeconds(float64(t), t), nil
}

// msOrSeconds turns a millisecond value f into seconds; t (the value as
// seconds) is returned below msThreshold.
func msOrSeconds(f float64, t int64) int64 {
	if math.Abs(f) >= msThreshold {
		return int64(math.Floor(f / 1000))
	}
	return t
}
