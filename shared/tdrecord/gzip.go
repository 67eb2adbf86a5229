package tdrecord

import (
	"bytes"
	stdgzip "compress/gzip"
	"sync"
)

// gzipWriters holds idle standard-library gzip writers, one pool per level
// (HuffmanOnly = -2 to BestCompression = 9).
var gzipWriters [stdgzip.BestCompression - stdgzip.HuffmanOnly + 1]sync.Pool

// GzipStream compresses the concatenation of raws (msgpack record streams)
// as one gzip member at the default level. The output is deterministic (same
// input, same bytes, however the input is split into raws), so an object
// rewritten from the same records is byte-identical: fanout's staged
// objects and flush's sealed objects rely on it.
func GzipStream(raws ...[]byte) []byte {
	return GzipStreamLevel(stdgzip.DefaultCompression, raws...)
}

// GzipStreamLevel is GzipStream at a compress/gzip level (BestSpeed for a
// hot path); the output is deterministic for a given level. An invalid
// level is treated as the default.
func GzipStreamLevel(level int, raws ...[]byte) []byte {
	if level < stdgzip.HuffmanOnly || level > stdgzip.BestCompression {
		level = stdgzip.DefaultCompression
	}
	n := 0
	for _, r := range raws {
		n += len(r)
	}
	var buf bytes.Buffer
	buf.Grow(n/4 + 64)
	pool := &gzipWriters[level-stdgzip.HuffmanOnly]
	zw, _ := pool.Get().(*stdgzip.Writer)
	if zw == nil {
		zw, _ = stdgzip.NewWriterLevel(&buf, level) // level is valid
	} else {
		zw.Reset(&buf)
	}
	for _, r := range raws {
		_, _ = zw.Write(r) // writes to a bytes.Buffer cannot fail
	}
	_ = zw.Close()
	zw.Reset(nil) // drop the reference to buf
	pool.Put(zw)
	return buf.Bytes()
}
