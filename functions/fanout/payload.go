package fanout

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/spillwayhq/spillway/shared/envelope"
)

// ErrBadPayload is wrapped by every payload decoding error: the part is
// quarantined, never retried.
var ErrBadPayload = errors.New("bad payload")

// maxColumns limits the keys of one event.
const maxColumns = 4096

// Event is one decoded record of a payload: its raw msgpack map bytes and
// its integer event time (Unix seconds).
type Event struct {
	Raw  []byte
	Time int64
}

// DecodePayload decompresses an envelope payload whose encoding is enc
// (envelope.EncodingGzip or EncodingZstd): a stream of msgpack maps, each
// with an integer "time". It reads at most limit decompressed bytes, and
// returns the events in order and the schema of the columns seen. Every
// failure, an unknown enc included, wraps ErrBadPayload.
func DecodePayload(enc string, payload []byte, limit int64) ([]Event, Schema, error) {
	var raw []byte
	var err error
	switch enc {
	case envelope.EncodingGzip:
		raw, err = gunzip(payload, limit)
	case envelope.EncodingZstd:
		raw, err = unzstd(payload, limit)
	default:
		err = fmt.Errorf("%w: unknown payload encoding %q", ErrBadPayload, clip(enc))
	}
	if err != nil {
		return nil, nil, err
	}
	return DecodeStream(raw)
}

// gunzip decompresses a gzip payload (one or more members).
func gunzip(gz []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrBadPayload, err)
	}
	return readLimited(zr, limit, "gunzip")
}

// maxZstdWindow is the largest window a zstd frame may declare, the limit
// ingest applies to the zstd bodies it accepts and passes through (RFC
// 9659's 8 MiB). A header asking for more is refused before the window is
// allocated.
const maxZstdWindow = 8 << 20

// zstdDecoders holds idle *zstd.Decoder: synchronous (concurrency 1, so no
// goroutines and an idle one in the pool is simply collected), low-memory,
// refusing windows over maxZstdWindow.
var zstdDecoders sync.Pool

// unzstd decompresses a zstd payload (one or more frames; skippable frames
// are skipped).
func unzstd(payload []byte, limit int64) ([]byte, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: zstd: empty payload", ErrBadPayload)
	}
	d, _ := zstdDecoders.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("start zstd decoder: %w", err)
		}
	}
	defer func() {
		_ = d.Reset(nil) // drop the reference to payload
		zstdDecoders.Put(d)
	}()
	// A *bytes.Reader, not a *bytes.Buffer: the decoder would decode a
	// small Buffer whole, before the limit could stop it.
	if err := d.Reset(bytes.NewReader(payload)); err != nil {
		return nil, fmt.Errorf("%w: zstd: %v", ErrBadPayload, err)
	}
	return readLimited(d, limit, "unzstd")
}

// readLimited reads r to the end, failing once it passes limit bytes.
func readLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadPayload, what, err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%w: decompressed payload exceeds %d bytes", ErrBadPayload, limit)
	}
	return raw, nil
}

// DecodeStream decodes an uncompressed msgpack map stream.
func DecodeStream(raw []byte) ([]Event, Schema, error) {
	schema := Schema{}
	var evs []Event
	rd := bytes.NewReader(raw)
	dec := msgpack.NewDecoder(rd)
	for rd.Len() > 0 {
		start := len(raw) - rd.Len()
		n, err := dec.DecodeMapLen()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: event %d: not a map: %v", ErrBadPayload, len(evs), err)
		}
		if n < 0 || n > maxColumns {
			return nil, nil, fmt.Errorf("%w: event %d: %d keys", ErrBadPayload, len(evs), n)
		}
		var t int64
		hasTime := false
		for i := 0; i < n; i++ {
			k, err := dec.DecodeString()
			if err != nil {
				return nil, nil, fmt.Errorf("%w: event %d: key: %v", ErrBadPayload, len(evs), err)
			}
			if k == "time" {
				if c, err := dec.PeekCode(); err != nil || !(msgpcode.IsFixedNum(c) || (c >= msgpcode.Uint8 && c <= msgpcode.Int64)) {
					return nil, nil, fmt.Errorf("%w: event %d: time is not an integer", ErrBadPayload, len(evs))
				}
				v, err := dec.DecodeInterface()
				if err != nil {
					return nil, nil, fmt.Errorf("%w: event %d: time: %v", ErrBadPayload, len(evs), err)
				}
				t, hasTime = asInt(v)
				if !hasTime {
					return nil, nil, fmt.Errorf("%w: event %d: time is %T, not an integer", ErrBadPayload, len(evs), v)
				}
				continue
			}
			ty, err := skipValue(dec, rd, 0)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: event %d: value of %q: %v", ErrBadPayload, len(evs), clip(k), err)
			}
			if ty != "" {
				schema.Add(k, ty)
			}
		}
		if !hasTime {
			return nil, nil, fmt.Errorf("%w: event %d: no time", ErrBadPayload, len(evs))
		}
		end := len(raw) - rd.Len()
		evs = append(evs, Event{Raw: raw[start:end:end], Time: t})
	}
	return evs, schema, nil
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > 1<<62 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// maxDepth limits the nesting of arrays and maps inside one event.
const maxDepth = 64

// skipValue reads past the next value without materialising it and returns
// its column type ("" for nil). Lengths are checked against the bytes left,
// so a hostile header cannot force a large allocation.
func skipValue(dec *msgpack.Decoder, rd *bytes.Reader, depth int) (string, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return "", err
	}
	switch {
	case c == msgpcode.Nil:
		return "", dec.Skip()
	case c == msgpcode.False || c == msgpcode.True:
		return TypeBoolean, dec.Skip()
	case msgpcode.IsFixedNum(c) || (c >= msgpcode.Uint8 && c <= msgpcode.Int64):
		return TypeLong, dec.Skip()
	case c == msgpcode.Float || c == msgpcode.Double:
		return TypeDouble, dec.Skip()
	case msgpcode.IsFixedString(c) || c == msgpcode.Str8 || c == msgpcode.Str16 || c == msgpcode.Str32:
		return TypeString, dec.Skip()
	case c == msgpcode.Bin8 || c == msgpcode.Bin16 || c == msgpcode.Bin32 || msgpcode.IsExt(c):
		return TypeBinary, dec.Skip()
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return "", err
		}
		if err := checkNested(n, 1, rd, depth); err != nil {
			return "", err
		}
		for i := 0; i < n; i++ {
			if _, err := skipValue(dec, rd, depth+1); err != nil {
				return "", err
			}
		}
		return TypeArray, nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return "", err
		}
		if err := checkNested(n, 2, rd, depth); err != nil {
			return "", err
		}
		for i := 0; i < 2*n; i++ {
			if _, err := skipValue(dec, rd, depth+1); err != nil {
				return "", err
			}
		}
		return TypeMap, nil
	}
	return "", fmt.Errorf("unknown msgpack code 0x%x", c)
}

func checkNested(n, per int, rd *bytes.Reader, depth int) error {
	switch {
	case depth >= maxDepth:
		return fmt.Errorf("nested deeper than %d", maxDepth)
	case n < 0 || int64(n)*int64(per) > int64(rd.Len()):
		return fmt.Errorf("length %d exceeds the remaining %d bytes", n, rd.Len())
	}
	return nil
}

// EncodeGzip compresses a msgpack stream deterministically (same input, same
// bytes), so a rewritten staged object is byte-identical.
func EncodeGzip(raws ...[]byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	for _, r := range raws {
		_, _ = zw.Write(r)
	}
	_ = zw.Close()
	return buf.Bytes()
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
