package testcodec

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// CheckStream fails tb unless raw, a stream a decoder accepted, decodes with
// an independent msgpack decoder into exactly n maps, each with an integer
// "time".
func CheckStream(tb testing.TB, raw []byte, n int) {
	tb.Helper()
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	got := 0
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("accepted stream does not decode at event %d: %v", got, err)
		}
		switch m["time"].(type) {
		case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		default:
			tb.Fatalf("accepted event %d has time %T", got, m["time"])
		}
		got++
	}
	if got != n {
		tb.Fatalf("walker counted %d events, decoder %d", n, got)
	}
}
