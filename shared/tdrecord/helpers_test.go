package tdrecord

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// stream encodes maps as one msgpack map stream.
func stream(tb testing.TB, maps ...map[string]any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	for _, m := range maps {
		if err := enc.Encode(m); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// fuzzLimits are small so the fuzzer reaches every limit.
func fuzzLimits() Limits {
	l := DefaultLimits()
	l.MaxDecompressedBytes = 1 << 20
	l.RatioFloorBytes = 64 << 10
	l.MaxRecordBytes = 64 << 10
	l.MaxKeys = 16
	l.MaxDepth = 8
	l.MaxEvents = 1000
	return l
}
