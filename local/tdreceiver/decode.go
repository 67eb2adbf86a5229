package tdreceiver

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Record is one decoded event: a map with an integer "time".
type Record map[string]any

// Limits bound what DecodeStream accepts.
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

// Sentinel errors of DecodeStream (wrapped with detail).
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

// HashRecord returns a canonical hex SHA-256 of a record: map keys sorted,
// integers compared by value (int64/uint64 of any msgpack width), float32
// widened, and str and bin treated alike, so the same event read back from
// S3 objects, the TD receiver or anywhere else hashes the same.
func HashRecord(r map[string]any) string {
	h := sha256.New()
	writeCanonical(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

func writeCanonical(w io.Writer, v any) {
	var buf [9]byte
	tagged := func(tag byte, u uint64) {
		buf[0] = tag
		binary.BigEndian.PutUint64(buf[1:], u)
		_, _ = w.Write(buf[:])
	}
	str := func(s string) {
		tagged('s', uint64(len(s)))
		_, _ = io.WriteString(w, s)
	}
	switch x := v.(type) {
	case nil:
		_, _ = w.Write([]byte{'n'})
	case bool:
		if x {
			_, _ = w.Write([]byte{'T'})
		} else {
			_, _ = w.Write([]byte{'F'})
		}
	case int:
		tagged('i', uint64(int64(x)))
	case int8:
		tagged('i', uint64(int64(x)))
	case int16:
		tagged('i', uint64(int64(x)))
	case int32:
		tagged('i', uint64(int64(x)))
	case int64:
		tagged('i', uint64(x))
	case uint8:
		tagged('i', uint64(x))
	case uint16:
		tagged('i', uint64(x))
	case uint32:
		tagged('i', uint64(x))
	case uint64:
		if x > math.MaxInt64 {
			tagged('u', x)
		} else {
			tagged('i', x)
		}
	case float32:
		tagged('f', math.Float64bits(float64(x)))
	case float64:
		tagged('f', math.Float64bits(x))
	case string:
		str(x)
	case []byte:
		str(string(x))
	case []any:
		tagged('a', uint64(len(x)))
		for _, e := range x {
			writeCanonical(w, e)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		tagged('m', uint64(len(x)))
		for _, k := range keys {
			str(k)
			writeCanonical(w, x[k])
		}
	case Record:
		writeCanonical(w, map[string]any(x))
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = e
		}
		writeCanonical(w, m)
	default:
		str(fmt.Sprintf("%T:%v", x, x))
	}
}
