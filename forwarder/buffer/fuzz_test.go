package buffer

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// FuzzDecode checks that the chunk decoder (every format version) never
// panics, reports a valid prefix no longer than its input, and that the
// prefix decodes cleanly.
func FuzzDecode(f *testing.F) {
	rec := []byte{0x81, 0xa4, 't', 'i', 'm', 'e', 0x01}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(rec)
	_ = zw.Close()
	f.Add([]byte(magic))
	f.Add(appendFrame([]byte(magic), gz.Bytes(), 1, len(rec), []byte("k\x00v")))
	f.Add([]byte(magic + "\xff\xff\xff\xff"))
	f.Add([]byte(magicV1))
	f.Add(appendFrameV1([]byte(magicV1), rec, 1, []byte("k\x00v")))
	f.Add([]byte("SPWBUF01\xff\xff\xff\xff"))
	f.Add(appendFrame([]byte(magicZstd), zstdFrame(rec), 1, len(rec), []byte("k\x00v")))
	f.Fuzz(func(t *testing.T, data []byte) {
		valid, recs, err := Decode(bytes.NewReader(data), nil)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
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

// zstdFrame returns p as one zstd frame.
func zstdFrame(p []byte) []byte {
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()
	return enc.EncodeAll(p, nil)
}
