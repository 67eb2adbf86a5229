package tdrecord

import (
	"bytes"
	"errors"
	"io"
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

// checkStream asserts that an accepted stream decodes with an independent
// msgpack decoder into n maps, each with an integer time.
func checkStream(t *testing.T, raw []byte, n int) {
	t.Helper()
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	got := 0
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("accepted stream does not decode at event %d: %v", got, err)
		}
		switch m["time"].(type) {
		case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		default:
			t.Fatalf("accepted event %d has time %T", got, m["time"])
		}
		got++
	}
	if got != n {
		t.Fatalf("walker counted %d events, decoder %d", n, got)
	}
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
