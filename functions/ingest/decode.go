package ingest

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/spillwayhq/spillway/shared/tdimport"
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

// maxZstdWindow is the largest window a zstd frame may declare: the 8 MiB
// that RFC 9659 sets for zstd in HTTP and that zstd's own levels 1-19 and
// klauspost/compress's encoder (the forwarder uses 1 MiB) stay within. A
// frame header asking for more is refused before the decoder allocates its
// window, so a hostile header cannot make the function allocate gigabytes.
const maxZstdWindow = 8 << 20

// zstdDecoders holds idle *zstd.Decoder (see newZstdDecoder).
var zstdDecoders sync.Pool

// newZstdDecoder returns a synchronous decoder (concurrency 1: no
// goroutines, so an idle one in the pool is simply collected), in low-memory
// mode, that refuses frames whose window passes maxZstdWindow.
func newZstdDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
}

// errZstdWindow replaces the decoder's window errors with what the client
// must change.
var errZstdWindow = fmt.Errorf("a frame declares a window over the %d-byte limit (encode with a smaller window or level)", maxZstdWindow)

// zstdReader reads a pooled decoder and names window-limit failures.
type zstdReader struct{ d *zstd.Decoder }

func (r zstdReader) Read(p []byte) (int, error) {
	n, err := r.d.Read(p)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		err = errZstdWindow
	}
	return n, err
}

// unzstd decompresses a zstd body (one or more concatenated frames) within
// the same decompressed-size and ratio limits as gunzip, so a zstd bomb gets
// the answer a gzip bomb gets (413). Invalid zstd is 400
// invalid_compression.
func unzstd(body []byte, lim Limits, dst []byte) ([]byte, *apiError) {
	if len(body) == 0 {
		return nil, reject(http.StatusBadRequest, reasonBadGzip, "body is not zstd: empty body")
	}
	d, _ := zstdDecoders.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		if d, err = newZstdDecoder(); err != nil {
			return nil, &apiError{Status: http.StatusInternalServerError, Reason: reasonInternal, Message: "could not start the zstd decoder", Cause: err}
		}
	}
	defer func() {
		_ = d.Reset(nil) // drop the reference to body
		zstdDecoders.Put(d)
	}()
	// A *bytes.Reader, not a *bytes.Buffer: the decoder would decode a small
	// Buffer whole, before readLimited could stop it.
	if err := d.Reset(bytes.NewReader(body)); err != nil {
		return nil, reject(http.StatusBadRequest, reasonBadGzip, "body is not zstd: %v", err)
	}
	return readLimited(zstdReader{d}, len(body), lim, dst, "zstd")
}

// decompressor returns the decompression of an import format
// (tdimport.FormatGzip or FormatZstd), or false for an unknown format.
func decompressor(format string) (func(body []byte, lim Limits, dst []byte) ([]byte, *apiError), bool) {
	switch format {
	case tdimport.FormatGzip:
		return gunzip, true
	case tdimport.FormatZstd:
		return unzstd, true
	}
	return nil, false
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
// decompression) and indexes its events.
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
	return DecodeImportFormat(tdimport.FormatGzip, body, lim)
}

// DecodeImportFormat is DecodeImport for a body in the given import format
// (tdimport.FormatGzip or tdimport.FormatZstd); an unknown format is the
// API's 415 error.
func DecodeImportFormat(format string, body []byte, lim Limits) (events int, err error) {
	decompress, ok := decompressor(format)
	if !ok {
		return 0, unsupportedFormat(format)
	}
	raw, aerr := decompress(body, lim, nil)
	if aerr != nil {
		return 0, aerr
	}
	b, aerr := decodeMsgpackStream(raw, lim)
	if aerr != nil {
		return 0, aerr
	}
	return b.events(), nil
}
