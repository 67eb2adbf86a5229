package fanout

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeStream checks that any input either decodes into events whose
// raw bytes re-join to the input, or fails with ErrBadPayload.
func FuzzDecodeStream(f *testing.F) {
	f.Add(mp(f, map[string]any{"time": 1, "msg": "a"}, map[string]any{"time": 2, "n": 1.5}))
	f.Add([]byte{0x81, 0xa4, 't', 'i', 'm', 'e', 0x01})
	f.Fuzz(func(t *testing.T, raw []byte) {
		evs, schema, err := DecodeStream(raw)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("error %v does not wrap ErrBadPayload", err)
			}
			return
		}
		var joined []byte
		for _, e := range evs {
			joined = append(joined, e.Raw...)
		}
		if !bytes.Equal(joined, raw) {
			t.Fatal("events do not re-join to the input")
		}
		for c, ty := range schema {
			if Widen(ty, ty) != ty || c == "time" {
				t.Fatalf("bad schema entry %q=%q", c, ty)
			}
		}
	})
}

// FuzzDecodePayload checks the gzip layer and its size limit.
func FuzzDecodePayload(f *testing.F) {
	f.Add(EncodeGzip(mp(f, map[string]any{"time": 1, "msg": "a"})))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, gz []byte) {
		evs, _, err := DecodePayload(gz, 1<<16)
		if err != nil && !errors.Is(err, ErrBadPayload) {
			t.Fatalf("error %v does not wrap ErrBadPayload", err)
		}
		var n int
		for _, e := range evs {
			n += len(e.Raw)
		}
		if n > 1<<16 {
			t.Fatalf("decoded %d bytes over the limit", n)
		}
	})
}
