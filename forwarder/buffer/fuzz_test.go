package buffer

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode checks that the chunk decoder never panics, reports a valid
// prefix no longer than its input, and that the prefix decodes cleanly.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(magic))
	f.Add(appendFrame([]byte(magic), []byte{0x81, 0xa4, 't', 'i', 'm', 'e', 0x01}, 1, []byte("k\x00v")))
	f.Add([]byte("SPWBUF01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		valid, recs, err := Decode(bytes.NewReader(data), nil)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected error class: %v", err)
		}
		if valid > int64(len(data)) {
			t.Fatalf("valid prefix %d beyond input %d", valid, len(data))
		}
		if valid >= int64(len(magic)) {
			v2, r2, err2 := Decode(bytes.NewReader(data[:valid]), nil)
			if err2 != nil || v2 != valid || r2 != recs {
				t.Fatalf("prefix re-decode = %d,%d,%v; want %d,%d,nil", v2, r2, err2, valid, recs)
			}
		}
	})
}
