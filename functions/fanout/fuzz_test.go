package fanout

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/tdrecord"
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

// FuzzDecodePayload checks both decompression layers and the size limit:
// every input is decoded as gzip and as zstd (seeds in
// testdata/fuzz/FuzzDecodePayload: gzip, and zstd frames, skippable and
// empty frames, a 1 GiB window header, a bomb, bad checksums). A failure
// must wrap ErrBadPayload, no more than the limit may be decoded, and what
// zstd accepts must be what an independent whole-buffer decode gives.
func FuzzDecodePayload(f *testing.F) {
	ev := mp(f, map[string]any{"time": 1, "msg": "a"})
	f.Add(tdrecord.GzipStream(ev))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	f.Add(encodeZstd(f, 0, ev))
	f.Add(encodeZstd(f, 5, ev, mp(f, map[string]any{"time": 2, "a": []any{1, "x"}})))
	const limit = 1 << 16
	ref, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(tdrecord.MaxZstdWindow), zstd.WithDecoderMaxMemory(limit))
	if err != nil {
		f.Fatal(err)
	}
	defer ref.Close()
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, enc := range []string{envelope.EncodingGzip, envelope.EncodingZstd} {
			evs, _, err := DecodePayload(enc, payload, limit)
			if err != nil {
				if !errors.Is(err, ErrBadPayload) {
					t.Fatalf("%s: error %v does not wrap ErrBadPayload", enc, err)
				}
				continue
			}
			var raw []byte
			for _, e := range evs {
				raw = append(raw, e.Raw...)
			}
			if len(raw) > limit {
				t.Fatalf("%s: decoded %d bytes over the limit", enc, len(raw))
			}
			if enc == envelope.EncodingZstd {
				if want, err := ref.DecodeAll(payload, nil); err != nil || !bytes.Equal(want, raw) {
					t.Fatalf("DecodeAll disagrees: %d bytes, %v; streamed %d bytes", len(want), err, len(raw))
				}
			}
		}
	})
}
