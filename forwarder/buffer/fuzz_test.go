package buffer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// FuzzDecode checks that the chunk decoder (both format versions) never
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

// FuzzPositionsFile checks that any positions file content is recovered
// from without a panic or an error.
func FuzzPositionsFile(f *testing.F) {
	var seed []byte
	seed = binary.LittleEndian.AppendUint32(seed, uint32(10+3+2))
	seed = encodeMeta(seed, 7, "k\x00a", []byte("42"))
	f.Add(seed)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, positionsFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Dir = dir
		b, err := Open(cfg)
		if err != nil {
			t.Fatalf("open with a damaged positions file: %v", err)
		}
		_ = b.RecoveredPositions()
		b.Close()
	})
}
