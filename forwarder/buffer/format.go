package buffer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Chunk file format. A chunk file starts with the 8-byte magic and holds a
// sequence of frames, one per Append:
//
//	uint32 little-endian payload length
//	uint32 little-endian record count
//	uint32 little-endian metadata length (0 when none)
//	uint32 little-endian CRC-32C (Castagnoli) of count, metadata length, metadata and payload
//	metadata: a source position (see AppendWithPosition), stored with the records
//	payload: count concatenated msgpack maps
//
// A frame that is cut short or fails its checksum ends the valid part of the
// file: everything from it on is a torn tail (a crash during a write) and is
// cut at recovery.
const (
	magic       = "SPWBUF01"
	frameHeader = 16
	// MaxFrame bounds one frame's payload; a length above it is corruption.
	MaxFrame = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by decoding errors: bad magic, a short frame, a
// checksum mismatch or an impossible length.
var ErrCorrupt = errors.New("corrupt chunk file")

// appendFrame appends one frame holding payload (count records) and meta to dst.
func appendFrame(dst, payload []byte, count int, meta []byte) []byte {
	var h [frameHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:8], uint32(count))
	binary.LittleEndian.PutUint32(h[8:12], uint32(len(meta)))
	c := crc32.Update(0, castagnoli, h[4:12])
	c = crc32.Update(c, castagnoli, meta)
	c = crc32.Update(c, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[12:16], c)
	dst = append(dst, h[:]...)
	dst = append(dst, meta...)
	return append(dst, payload...)
}

// frameReader streams the frames of a chunk file.
type frameReader struct {
	r     *bufio.Reader
	off   int64 // offset of the end of the last valid frame
	buf   []byte
	count int
	meta  []byte // metadata of the last frame returned
}

// maxMeta bounds a frame's metadata.
const maxMeta = 64 << 10

func newFrameReader(r io.Reader) (*frameReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var m [len(magic)]byte
	if _, err := io.ReadFull(br, m[:]); err != nil {
		return nil, fmt.Errorf("%w: read magic: %v", ErrCorrupt, err)
	}
	if string(m[:]) != magic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrCorrupt, m[:])
	}
	return &frameReader{r: br, off: int64(len(magic))}, nil
}

// next returns the next frame's payload (valid until the next call) and its
// record count. It returns io.EOF at a clean end and an ErrCorrupt error at a
// torn or damaged frame; fr.off is then the length of the valid prefix.
func (fr *frameReader) next() ([]byte, int, error) {
	var h [frameHeader]byte
	n, err := io.ReadFull(fr.r, h[:])
	if err == io.EOF {
		return nil, 0, io.EOF
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: short frame header at offset %d (%d bytes)", ErrCorrupt, fr.off, n)
	}
	size := binary.LittleEndian.Uint32(h[0:4])
	count := binary.LittleEndian.Uint32(h[4:8])
	mlen := binary.LittleEndian.Uint32(h[8:12])
	if size > MaxFrame || count > size || mlen > maxMeta {
		return nil, 0, fmt.Errorf("%w: frame at offset %d claims %d bytes, %d records, %d metadata bytes", ErrCorrupt, fr.off, size, count, mlen)
	}
	total := int(size) + int(mlen)
	if cap(fr.buf) < total {
		fr.buf = make([]byte, total)
	}
	fr.buf = fr.buf[:total]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		return nil, 0, fmt.Errorf("%w: frame at offset %d cut short", ErrCorrupt, fr.off)
	}
	c := crc32.Update(0, castagnoli, h[4:12])
	c = crc32.Update(c, castagnoli, fr.buf)
	if c != binary.LittleEndian.Uint32(h[12:16]) {
		return nil, 0, fmt.Errorf("%w: checksum mismatch in frame at offset %d", ErrCorrupt, fr.off)
	}
	fr.off += frameHeader + int64(total)
	fr.count += int(count)
	fr.meta = fr.buf[:mlen]
	return fr.buf[mlen:], int(count), nil
}

// Decode streams the frames of a chunk file from r, calling fn with each
// frame's payload and record count. It returns the length of the valid prefix
// and the number of records in it; err is nil at a clean end, or wraps
// ErrCorrupt at the first damaged frame (what came before it is valid).
func Decode(r io.Reader, fn func(payload []byte, count int) error) (valid int64, records int, err error) {
	return decodeMeta(r, fn, nil)
}

// decodeMeta is Decode that also reports each non-empty frame metadata.
func decodeMeta(r io.Reader, fn func(payload []byte, count int) error, metaFn func(meta []byte)) (valid int64, records int, err error) {
	fr, err := newFrameReader(r)
	if err != nil {
		return 0, 0, err
	}
	for {
		p, n, err := fr.next()
		if err == io.EOF {
			return fr.off, fr.count, nil
		}
		if err != nil {
			return fr.off, fr.count, err
		}
		if metaFn != nil && len(fr.meta) > 0 {
			metaFn(fr.meta)
		}
		if fn != nil {
			if err := fn(p, n); err != nil {
				return fr.off, fr.count, err
			}
		}
	}
}
