package ingest

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// batch is a validated request: the decompressed msgpack map stream and
// where each event ends in it.
type batch struct {
	raw  []byte // msgpack map stream
	ends []int  // ends[i] is the offset just past event i
	minT int64  // smallest event time
	maxT int64  // largest event time
}

func (b *batch) events() int { return len(b.ends) }

// requestBody returns the body bytes of an API Gateway event, decoding
// base64 when API Gateway marked it so, and enforces MaxBodyBytes.
func requestBody(body string, isBase64 bool, lim Limits) ([]byte, *apiError) {
	if !isBase64 {
		if len(body) > lim.MaxBodyBytes {
			return nil, reject(http.StatusRequestEntityTooLarge, reasonBodyTooLarge, "request body is %d bytes, limit %d", len(body), lim.MaxBodyBytes)
		}
		return []byte(body), nil
	}
	if base64.StdEncoding.DecodedLen(len(body)) > lim.MaxBodyBytes+3 {
		return nil, reject(http.StatusRequestEntityTooLarge, reasonBodyTooLarge, "request body is about %d bytes, limit %d", base64.StdEncoding.DecodedLen(len(body)), lim.MaxBodyBytes)
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := base64.StdEncoding.Decode(out, []byte(body))
	if err != nil {
		return nil, reject(http.StatusBadRequest, reasonBadBase64, "request body is marked base64 but does not decode: %v", err)
	}
	if n > lim.MaxBodyBytes {
		return nil, reject(http.StatusRequestEntityTooLarge, reasonBodyTooLarge, "request body is %d bytes, limit %d", n, lim.MaxBodyBytes)
	}
	return out[:n], nil
}

var gzipReaders sync.Pool // *gzip.Reader

// gunzip decompresses a gzip body (several members allowed) within the
// decompressed-size and ratio limits.
func gunzip(body []byte, lim Limits, dst []byte) ([]byte, *apiError) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(body))
	} else {
		err = zr.Reset(bytes.NewReader(body))
	}
	if err != nil {
		return nil, reject(http.StatusBadRequest, reasonBadGzip, "body is not gzip: %v", err)
	}
	defer gzipReaders.Put(zr)
	return readLimited(zr, len(body), lim, dst, "gzip")
}

// inflate decompresses an HTTP "deflate" body (zlib, or raw deflate as some
// clients send) within the limits.
func inflate(body []byte, lim Limits) ([]byte, *apiError) {
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, reject(http.StatusBadRequest, reasonBadGzip, "body is not deflate (zlib): %v", err)
	}
	defer zr.Close()
	return readLimited(zr, len(body), lim, nil, "deflate")
}

// readLimited reads r to the end, failing with 413 once the output passes
// MaxDecompressedBytes or MaxCompressionRatio times the compressed size
// (the ratio only beyond RatioFloorBytes).
func readLimited(r io.Reader, compressed int, lim Limits, dst []byte, what string) ([]byte, *apiError) {
	limit := lim.MaxDecompressedBytes
	ratioLimit := compressed * lim.MaxCompressionRatio
	if ratioLimit < lim.RatioFloorBytes {
		ratioLimit = lim.RatioFloorBytes
	}
	byRatio := false
	if ratioLimit < limit {
		limit, byRatio = ratioLimit, true
	}
	buf := bytes.NewBuffer(dst[:0])
	buf.Grow(min(limit, compressed*8) + bytes.MinRead)
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		if errors.Is(err, bytes.ErrTooLarge) {
			return nil, reject(http.StatusRequestEntityTooLarge, reasonDecompTooLarge, "decompressed body is too large")
		}
		return nil, reject(http.StatusBadRequest, reasonBadGzip, "invalid %s body: %v", what, err)
	}
	if n > int64(limit) {
		if byRatio {
			return nil, reject(http.StatusRequestEntityTooLarge, reasonRatio, "%s body expands more than %d times (%d compressed bytes)", what, lim.MaxCompressionRatio, compressed)
		}
		return nil, reject(http.StatusRequestEntityTooLarge, reasonDecompTooLarge, "decompressed body exceeds %d bytes", lim.MaxDecompressedBytes)
	}
	return buf.Bytes(), nil
}

// decodeMsgpackStream validates a msgpack map stream (TD import body after
// gunzip) and indexes its events.
func decodeMsgpackStream(raw []byte, lim Limits) (*batch, *apiError) {
	w := walker{lim: lim}
	b := &batch{raw: raw, ends: make([]int, 0, len(raw)/128+1)}
	p := 0
	for p < len(raw) {
		if len(b.ends) >= lim.MaxEvents {
			return nil, reject(http.StatusRequestEntityTooLarge, reasonTooManyEvents, "request has more than %d events", lim.MaxEvents)
		}
		ev, aerr := w.event(raw, p, len(b.ends))
		if aerr != nil {
			return nil, aerr
		}
		if len(b.ends) == 0 || ev.time < b.minT {
			b.minT = ev.time
		}
		if len(b.ends) == 0 || ev.time > b.maxT {
			b.maxT = ev.time
		}
		b.ends = append(b.ends, ev.end)
		p = ev.end
	}
	return b, nil
}

// DecodeImport validates a TD import body (gzip of a msgpack map stream) with
// the given limits and returns the number of events, or an error whose text
// is the message the API would answer. It is the decoder the import routes
// use, exported for fuzzing and benchmarks.
func DecodeImport(body []byte, lim Limits) (events int, err error) {
	raw, aerr := gunzip(body, lim, nil)
	if aerr != nil {
		return 0, aerr
	}
	b, aerr := decodeMsgpackStream(raw, lim)
	if aerr != nil {
		return 0, aerr
	}
	return b.events(), nil
}
