package tdtest

// This file is the receiver's use of shared/tdrecord, the product's codec of
// the TD record stream: decompression with limits, the Walker for the
// count-only path, Decode for kept records, and the mapping of tdrecord's
// failures to the receiver's sentinel errors (and so to 413, 422 or 400).
// Nothing else in tdtest decodes bodies.

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/spillwayhq/spillway/shared/tdimport"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// Record is one decoded event: a map with an integer "time" (int64). Other
// values are as tdrecord.Decode gives them (integers in their msgpack
// width, bin as []byte); HashRecord compares them by value.
type Record map[string]any

// DefaultLimits are generous limits for tests and local runs: 512 MiB
// decompressed (and per record), 10,000,000 records, 10,000 top-level keys,
// nesting 32 deep, no compression-ratio check.
func DefaultLimits() tdrecord.Limits {
	return tdrecord.Limits{
		MaxDecompressedBytes: 512 << 20,
		MaxRecordBytes:       512 << 20,
		MaxKeys:              10_000,
		MaxDepth:             32,
		MaxEvents:            10_000_000,
	}
}

// Sentinel errors of the decoders (wrapped with tdrecord's detail).
var (
	// ErrNotGzip means the body is not a gzip stream.
	ErrNotGzip = errors.New("body is not gzip")
	// ErrTooLarge means a limit was exceeded (decompressed size, records,
	// record size, keys, depth).
	ErrTooLarge = errors.New("body exceeds a limit")
	// ErrBadRecord means the stream holds something other than maps with an
	// integer time (or is not valid msgpack).
	ErrBadRecord = errors.New("bad record")
)

// classify wraps a tdrecord failure in the sentinel the import handler
// maps to a status: ErrTooLarge 413, ErrBadRecord 422, anything else 400.
func classify(err error, c tdrecord.Compression) error {
	switch tdrecord.KindOf(err) {
	case tdrecord.KindDecompressedTooLarge, tdrecord.KindRatio, tdrecord.KindTooManyEvents,
		tdrecord.KindRecordTooLarge, tdrecord.KindTooManyKeys, tdrecord.KindTooDeep:
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case tdrecord.KindBadMsgpack, tdrecord.KindNotMap, tdrecord.KindTimeMissing, tdrecord.KindTimeInvalid:
		return fmt.Errorf("%w: %w", ErrBadRecord, err)
	case tdrecord.KindBadCompression:
		if c == tdrecord.Gzip {
			return fmt.Errorf("%w: %w", ErrNotGzip, err)
		}
	}
	return err
}

// DecodeStream gunzips body (one or more members) and decodes its stream of
// msgpack maps. Every map must have an integer "time" (seconds). An empty
// stream is valid.
func DecodeStream(body io.Reader, lim tdrecord.Limits) ([]Record, error) {
	return decodeCompressed(body, tdrecord.Gzip, lim)
}

// DecodeZstd is DecodeStream for a zstd body: one or more concatenated
// frames (skippable frames are skipped, windows over
// tdrecord.MaxZstdWindow refused) holding the msgpack map stream, within
// the same limits.
func DecodeZstd(body io.Reader, lim tdrecord.Limits) ([]Record, error) {
	return decodeCompressed(body, tdrecord.Zstd, lim)
}

func decodeCompressed(body io.Reader, c tdrecord.Compression, lim tdrecord.Limits) ([]Record, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	raw, err := tdrecord.Decompress(c, b, lim, nil)
	if err != nil {
		return nil, classify(err, c)
	}
	return decodeRecords(raw, lim)
}

// DecodeMsgpack decodes an uncompressed stream of msgpack maps (see
// DecodeStream), reading at most lim.MaxDecompressedBytes.
func DecodeMsgpack(r io.Reader, lim tdrecord.Limits) ([]Record, error) {
	raw, err := io.ReadAll(io.LimitReader(r, int64(lim.MaxDecompressedBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	if len(raw) > lim.MaxDecompressedBytes {
		return nil, fmt.Errorf("%w: stream exceeds %d bytes", ErrTooLarge, lim.MaxDecompressedBytes)
	}
	return decodeRecords(raw, lim)
}

// decodeRecords validates and decodes a decompressed stream with
// tdrecord.Decode, with "time" as int64.
func decodeRecords(raw []byte, lim tdrecord.Limits) ([]Record, error) {
	ms, err := tdrecord.Decode(raw, lim)
	if err != nil {
		return nil, classify(err, "")
	}
	out := make([]Record, len(ms))
	for i, m := range ms {
		m["time"] = int64Time(m["time"])
		out[i] = Record(m)
	}
	return out, nil
}

// int64Time returns a "time" that tdrecord's Walker accepted (an integer
// in the int64 range, in whatever msgpack width) as an int64.
func int64Time(v any) int64 {
	switch t := v.(type) {
	case int8:
		return int64(t)
	case int16:
		return int64(t)
	case int32:
		return int64(t)
	case int64:
		return t
	case uint8:
		return int64(t)
	case uint16:
		return int64(t)
	case uint32:
		return int64(t)
	case uint64:
		return int64(t) // the Walker refused values over MaxInt64
	}
	return 0
}

// compression returns the compression of an import format.
func compression(format string) tdrecord.Compression {
	if format == tdimport.FormatZstd {
		return tdrecord.Zstd
	}
	return tdrecord.Gzip
}

// zstdToGzip re-compresses a zstd body as one gzip member, within lim.
func zstdToGzip(body []byte, lim tdrecord.Limits) ([]byte, error) {
	raw, err := tdrecord.Unzstd(body, lim, nil)
	if err != nil {
		return nil, fmt.Errorf("zstd to gzip: %w", classify(err, tdrecord.Zstd))
	}
	return tdrecord.GzipStream(raw), nil
}

// plainBuffers are reused decompression outputs of the count-only path.
var plainBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4<<20); return &b }}

// decodeBody decodes an import body of format (tdimport.FormatGzip or
// FormatZstd). With countOnly it decompresses into a reused buffer and
// validates and counts the records in place with tdrecord's Walker,
// without decoding them (recs is nil); else it decodes them.
func decodeBody(body []byte, format string, lim tdrecord.Limits, countOnly bool) (recs []Record, n int, err error) {
	c := compression(format)
	if !countOnly {
		raw, err := tdrecord.Decompress(c, body, lim, nil)
		if err != nil {
			return nil, 0, classify(err, c)
		}
		recs, err := decodeRecords(raw, lim)
		return recs, len(recs), err
	}
	plain := plainBuffers.Get().(*[]byte)
	defer plainBuffers.Put(plain)
	raw, err := tdrecord.Decompress(c, body, lim, (*plain)[:0])
	if err != nil {
		return nil, 0, classify(err, c)
	}
	if cap(raw) <= 64<<20 {
		*plain = raw[:0]
	}
	w := tdrecord.Walker{Limits: lim}
	if n, err = w.Walk(raw, nil); err != nil {
		return nil, 0, classify(err, c)
	}
	return nil, n, nil
}
