package tdrecord

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// Compression names a compression of the record stream.
type Compression string

// Compressions.
const (
	Gzip    Compression = "gzip"    // one or more gzip members (TD's msgpack.gz)
	Zstd    Compression = "zstd"    // one or more zstd frames (msgpack.zst)
	Deflate Compression = "deflate" // HTTP deflate: zlib
)

// Decompress decompresses body compressed with c within lim, appending to
// dst[:0] (dst may be nil). An unknown c is KindUnsupportedCompression.
func Decompress(c Compression, body []byte, lim Limits, dst []byte) ([]byte, error) {
	switch c {
	case Gzip:
		return Gunzip(body, lim, dst)
	case Zstd:
		return Unzstd(body, lim, dst)
	case Deflate:
		return Inflate(body, lim, dst)
	}
	return nil, fail(KindUnsupportedCompression, "compression %q is not supported", clip(string(c), 64))
}

var gzipReaders sync.Pool // *gzip.Reader

// Gunzip decompresses a gzip body (several members allowed) within the
// decompressed-size and ratio limits, appending to dst[:0].
func Gunzip(body []byte, lim Limits, dst []byte) ([]byte, error) {
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(body))
	} else {
		err = zr.Reset(bytes.NewReader(body))
	}
	if err != nil {
		return nil, &Error{Kind: KindBadCompression, Msg: fmt.Sprintf("body is not gzip: %v", err), Err: err}
	}
	defer gzipReaders.Put(zr)
	return readLimited(zr, len(body), lim, dst, "gzip")
}

// MaxZstdWindow is the largest window a zstd frame may declare: the 8 MiB
// that RFC 9659 sets for zstd in HTTP and that zstd's own levels 1-19 and
// klauspost/compress's encoder stay within. A frame header asking for more
// is refused before the decoder allocates its window, so a hostile header
// cannot make the caller allocate gigabytes.
const MaxZstdWindow = 8 << 20

// zstdDecoders holds idle *zstd.Decoder (see newZstdDecoder).
var zstdDecoders sync.Pool

// newZstdDecoder returns a synchronous decoder (concurrency 1: no
// goroutines, so an idle one in the pool is simply collected), in low-memory
// mode, that refuses frames whose window passes MaxZstdWindow.
func newZstdDecoder() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(MaxZstdWindow))
}

// ErrZstdWindow is the cause of a KindBadCompression failure for a zstd
// frame whose window is over MaxZstdWindow; its text says what the client
// must change.
var ErrZstdWindow = fmt.Errorf("a frame declares a window over the %d-byte limit (encode with a smaller window or level)", MaxZstdWindow)

// zstdReader reads a pooled decoder and names window-limit failures.
type zstdReader struct{ d *zstd.Decoder }

func (r zstdReader) Read(p []byte) (int, error) {
	n, err := r.d.Read(p)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		err = ErrZstdWindow
	}
	return n, err
}

// Unzstd decompresses a zstd body (one or more concatenated frames;
// skippable frames are skipped) within the same decompressed-size and ratio
// limits as Gunzip, so a zstd bomb fails as a gzip bomb does. Frames with a
// window over MaxZstdWindow are KindBadCompression.
func Unzstd(body []byte, lim Limits, dst []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, fail(KindBadCompression, "body is not zstd: empty body")
	}
	d, _ := zstdDecoders.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		if d, err = newZstdDecoder(); err != nil {
			return nil, &Error{Kind: KindInternal, Msg: "could not start the zstd decoder", Err: err}
		}
	}
	defer func() {
		_ = d.Reset(nil) // drop the reference to body
		zstdDecoders.Put(d)
	}()
	// A *bytes.Reader, not a *bytes.Buffer: the decoder would decode a small
	// Buffer whole, before readLimited could stop it.
	if err := d.Reset(bytes.NewReader(body)); err != nil {
		return nil, &Error{Kind: KindBadCompression, Msg: fmt.Sprintf("body is not zstd: %v", err), Err: err}
	}
	return readLimited(zstdReader{d}, len(body), lim, dst, "zstd")
}

// Inflate decompresses an HTTP "deflate" body (zlib) within the limits.
func Inflate(body []byte, lim Limits, dst []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Kind: KindBadCompression, Msg: fmt.Sprintf("body is not deflate (zlib): %v", err), Err: err}
	}
	defer zr.Close()
	return readLimited(zr, len(body), lim, dst, "deflate")
}

// readLimited reads r to the end, failing once the output passes
// MaxDecompressedBytes or MaxCompressionRatio times the compressed size
// (the ratio only beyond RatioFloorBytes, and not at all when it is 0).
func readLimited(r io.Reader, compressed int, lim Limits, dst []byte, what string) ([]byte, error) {
	limit := lim.MaxDecompressedBytes
	byRatio := false
	if lim.MaxCompressionRatio > 0 {
		ratioLimit := max(compressed*lim.MaxCompressionRatio, lim.RatioFloorBytes)
		if ratioLimit < limit {
			limit, byRatio = ratioLimit, true
		}
	}
	buf := bytes.NewBuffer(dst[:0])
	buf.Grow(min(limit, compressed*8) + bytes.MinRead)
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		if errors.Is(err, bytes.ErrTooLarge) {
			return nil, fail(KindDecompressedTooLarge, "decompressed body is too large")
		}
		return nil, &Error{Kind: KindBadCompression, Msg: fmt.Sprintf("invalid %s body: %v", what, err), Err: err}
	}
	if n > int64(limit) {
		if byRatio {
			return nil, fail(KindRatio, "%s body expands more than %d times (%d compressed bytes)", what, lim.MaxCompressionRatio, compressed)
		}
		return nil, fail(KindDecompressedTooLarge, "decompressed body exceeds %d bytes", lim.MaxDecompressedBytes)
	}
	return buf.Bytes(), nil
}

// clip shortens s for a message.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
