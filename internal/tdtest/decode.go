package tdtest

// This file is the receiver's one decoder of the TD record stream
// (decompression with limits, the in-place record counter, decoding into
// Records). It will call shared/tdrecord, the product's codec, once that
// package exists; nothing else in tdtest decodes bodies.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/spillwayhq/spillway/shared/tdimport"
)

// Record is one decoded event: a map with an integer "time".
type Record map[string]any

// Limits bound what DecodeStream, DecodeZstd, DecodeMsgpack and the
// count-only walker accept.
type Limits struct {
	// MaxDecompressedBytes bounds the msgpack stream after gunzip.
	MaxDecompressedBytes int64
	// MaxRecords bounds the number of records in one body.
	MaxRecords int
	// MaxDepth bounds the nesting of maps and arrays inside a record.
	MaxDepth int
	// MaxKeys bounds the keys of one map.
	MaxKeys int
}

// DefaultLimits are generous limits for tests and local runs.
func DefaultLimits() Limits {
	return Limits{MaxDecompressedBytes: 512 << 20, MaxRecords: 10_000_000, MaxDepth: 32, MaxKeys: 10_000}
}

// Sentinel errors of the decoders (wrapped with detail).
var (
	// ErrNotGzip means the body is not a gzip stream.
	ErrNotGzip = errors.New("body is not gzip")
	// ErrTooLarge means a limit in Limits was exceeded.
	ErrTooLarge = errors.New("body exceeds a limit")
	// ErrBadRecord means the stream holds something other than maps with an
	// integer time.
	ErrBadRecord = errors.New("bad record")
)

// limitedReader fails with ErrTooLarge once more than n bytes were read.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if k, _ := l.r.Read(one[:]); k > 0 {
			return 0, fmt.Errorf("%w: decompressed size", ErrTooLarge)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// DecodeStream gunzips body and decodes its stream of msgpack maps. Every
// map must have an integer "time" (seconds). An empty stream is valid.
func DecodeStream(body io.Reader, lim Limits) ([]Record, error) {
	zr, err := gzip.NewReader(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotGzip, err)
	}
	defer zr.Close()
	return DecodeMsgpack(&limitedReader{r: zr, n: lim.MaxDecompressedBytes}, lim)
}

// maxZstdWindow is the largest window a zstd frame may declare (RFC 9659's
// 8 MiB, as Spillway's ingest): a hostile frame header cannot make the
// decoder allocate more.
const maxZstdWindow = 8 << 20

// zstdDecoders holds idle synchronous (concurrency 1, no goroutines)
// low-memory decoders.
var zstdDecoders sync.Pool // *zstd.Decoder

// DecodeZstd is DecodeStream for a zstd body: one or more concatenated
// frames (skippable frames are skipped) holding the msgpack map stream,
// within the same limits.
func DecodeZstd(body io.Reader, lim Limits) ([]Record, error) {
	zr, err := getZstd(body)
	if err != nil {
		return nil, err
	}
	defer putZstd(zr)
	return DecodeMsgpack(&limitedReader{r: zr, n: lim.MaxDecompressedBytes}, lim)
}

func getZstd(r io.Reader) (*zstd.Decoder, error) {
	zr, _ := zstdDecoders.Get().(*zstd.Decoder)
	if zr == nil {
		var err error
		zr, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
	}
	if err := zr.Reset(r); err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return zr, nil
}

func putZstd(zr *zstd.Decoder) {
	_ = zr.Reset(nil) // drop the reference to the body
	zstdDecoders.Put(zr)
}

// zstdToGzip re-compresses a zstd body as one gzip member, reading at most
// lim.MaxDecompressedBytes of it.
func zstdToGzip(body []byte, lim Limits) ([]byte, error) {
	zr, err := getZstd(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer putZstd(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := io.Copy(zw, &limitedReader{r: zr, n: lim.MaxDecompressedBytes}); err != nil {
		return nil, fmt.Errorf("zstd to gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zstd to gzip: %w", err)
	}
	return out.Bytes(), nil
}

// plainBuffers are reused decompression outputs of the count-only path.
var plainBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<20); return &b }}

// maxZstdAll bounds what the count-only path's zstd decoder decompresses
// from one body, whatever Limits say (it is fixed when the decoder is
// built): DefaultLimits' MaxDecompressedBytes.
const maxZstdAll = 512 << 20

// zstdAll is the count-only path's decoder, shared: DecodeAll is safe for
// concurrent use, and decoding a whole body at once is faster than the
// streaming decoders DecodeZstd uses.
var zstdAll = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdAll))
})

// decodeBody decodes an import body of format (tdimport.FormatGzip or
// FormatZstd). With countOnly it decompresses the whole body into a reused
// buffer and counts the records in place (recs is nil); else it decodes
// them.
func decodeBody(body []byte, format string, lim Limits, countOnly bool) (recs []Record, n int, err error) {
	if !countOnly {
		decode := DecodeStream
		if format == tdimport.FormatZstd {
			decode = DecodeZstd
		}
		recs, err := decode(bytes.NewReader(body), lim)
		return recs, len(recs), err
	}
	plain := plainBuffers.Get().(*[]byte)
	defer plainBuffers.Put(plain)
	if format == tdimport.FormatZstd {
		d, err := zstdAll()
		if err != nil {
			return nil, 0, fmt.Errorf("zstd decoder: %w", err)
		}
		out, err := d.DecodeAll(body, (*plain)[:0])
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || err == nil && int64(len(out)) > lim.MaxDecompressedBytes {
			return nil, 0, fmt.Errorf("%w: decompressed size", ErrTooLarge)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("zstd: %w", err)
		}
		if cap(out) <= 64<<20 {
			*plain = out[:0]
		}
		if n, err = countRecords(out, lim); err != nil {
			return nil, 0, fmt.Errorf("msgpack record %d: %w", n, err)
		}
		return nil, n, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrNotGzip, err)
	}
	defer zr.Close()
	buf := bytes.NewBuffer((*plain)[:0])
	if _, err := buf.ReadFrom(&limitedReader{r: zr, n: lim.MaxDecompressedBytes}); err != nil {
		return nil, 0, fmt.Errorf("gunzip: %w", err)
	}
	if buf.Cap() <= 64<<20 {
		*plain = buf.Bytes()[:0]
	}
	if n, err = countRecords(buf.Bytes(), lim); err != nil {
		return nil, 0, fmt.Errorf("msgpack record %d: %w", n, err)
	}
	return nil, n, nil
}

// errTruncated is returned by countRecords for a value cut short.
var errTruncated = errors.New("truncated msgpack value")

// errBadType is returned by countRecords for a reserved type byte or a
// top-level value that is not a map.
var errBadType = fmt.Errorf("%w: invalid msgpack type", ErrBadRecord)

// countRecords returns how many top-level maps the msgpack stream b holds,
// checking that every value is complete, within lim's record count and
// nesting depth. It walks the bytes in place, several times faster than
// decoding, so a count-only receiver costs little in benchmarks. It does
// not look at keys or at time.
func countRecords(b []byte, lim Limits) (int, error) {
	n := 0
	for p := 0; p < len(b); n++ {
		if n >= lim.MaxRecords {
			return n, fmt.Errorf("%w: more than %d records", ErrTooLarge, lim.MaxRecords)
		}
		if c := b[p]; !(c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf) {
			return n, errBadType
		}
		var err error
		if p, err = skipValue(b, p, 0, lim.MaxDepth); err != nil {
			return n, err
		}
	}
	return n, nil
}

// skipValue returns the offset just past the msgpack value at p.
func skipValue(b []byte, p, depth, maxDepth int) (int, error) {
	if p >= len(b) {
		return 0, errTruncated
	}
	if depth > maxDepth {
		return 0, fmt.Errorf("%w: nesting deeper than %d", ErrTooLarge, maxDepth)
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
		if p, err = skipValue(b, p, depth+1, maxDepth); err != nil {
			return 0, err
		}
	}
	return p, nil
}

// DecodeMsgpack decodes an uncompressed stream of msgpack maps (see
// DecodeStream).
func DecodeMsgpack(r io.Reader, lim Limits) ([]Record, error) {
	br := bufio.NewReader(r)
	dec := msgpack.NewDecoder(br)
	var out []Record
	for {
		if _, err := br.Peek(1); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("read record %d: %w", len(out), err)
		}
		if len(out) >= lim.MaxRecords {
			return nil, fmt.Errorf("%w: more than %d records", ErrTooLarge, lim.MaxRecords)
		}
		c, err := dec.PeekCode()
		if err != nil {
			return nil, fmt.Errorf("read record %d: %w", len(out), err)
		}
		if !msgpcode.IsFixedMap(c) && c != msgpcode.Map16 && c != msgpcode.Map32 {
			return nil, fmt.Errorf("%w: record %d is not a map (code 0x%02x)", ErrBadRecord, len(out), c)
		}
		v, err := decodeValue(dec, lim, 0)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", len(out), err)
		}
		rec := Record(v.(map[string]any))
		switch t := rec["time"].(type) {
		case int64:
		case uint64:
			if t > math.MaxInt64 {
				return nil, fmt.Errorf("%w: record %d: time %d out of range", ErrBadRecord, len(out), t)
			}
			rec["time"] = int64(t)
		default:
			return nil, fmt.Errorf("%w: record %d: missing integer time (got %T)", ErrBadRecord, len(out), rec["time"])
		}
		out = append(out, rec)
	}
}

// decodeValue decodes one value with depth and key limits. Maps come back as
// map[string]any (keys must be str or bin), integers as int64 or uint64,
// floats as float64, bin as []byte.
func decodeValue(dec *msgpack.Decoder, lim Limits, depth int) (any, error) {
	if depth > lim.MaxDepth {
		return nil, fmt.Errorf("%w: nesting deeper than %d", ErrTooLarge, lim.MaxDepth)
	}
	c, err := dec.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		if n > lim.MaxKeys {
			return nil, fmt.Errorf("%w: map with %d keys (limit %d)", ErrTooLarge, n, lim.MaxKeys)
		}
		m := make(map[string]any, min(n, 64))
		for i := 0; i < n; i++ {
			kc, err := dec.PeekCode()
			if err != nil {
				return nil, err
			}
			if !msgpcode.IsString(kc) && !msgpcode.IsBin(kc) {
				return nil, fmt.Errorf("%w: map key is not a string (code 0x%02x)", ErrBadRecord, kc)
			}
			k, err := dec.DecodeString()
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(dec, lim, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		a := make([]any, 0, min(max(n, 0), 64))
		for i := 0; i < n; i++ {
			v, err := decodeValue(dec, lim, depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		return a, nil
	case msgpcode.IsExt(c):
		return nil, fmt.Errorf("%w: ext types are not accepted (code 0x%02x)", ErrBadRecord, c)
	}
	v, err := dec.DecodeInterfaceLoose()
	if err != nil {
		return nil, err
	}
	if f, ok := v.(float32); ok {
		return float64(f), nil
	}
	return v, nil
}
