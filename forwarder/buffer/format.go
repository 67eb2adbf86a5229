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
//	uint32 little-endian CRC-32C (Castagnoli) of count (4 bytes LE) + payload
//	payload: count concatenated msgpack maps
//
// A frame that is cut short or fails its checksum ends the valid part of the
// file: everything from it on is a torn tail (a crash during a write) and is
// cut at recovery.
const (
	magic       = "SPWBUF01"
	frameHeader = 12
	// MaxFrame bounds one frame's payload; a length above it is corruption.
	MaxFrame = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by decoding errors: bad magic, a short frame, a
// checksum mismatch or an impossible length.
var ErrCorrupt = errors.New("corrupt chunk file")

// appendFrame appends one frame holding payload (count records) to dst.
func appendFrame(dst, payload []byte, count int) []byte {
	var h [frameHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:8], uint32(count))
	c := crc32.Update(0, castagnoli, h[4:8])
	c = crc32.Update(c, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[8:12], c)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// frameReader streams the frames of a chunk file.
type frameReader struct {
	r     *bufio.Reader
	off   int64 // offset of the end of the last valid frame
	buf   []byte
	count int
}

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
	if size > MaxFrame || count > size {
		return nil, 0, fmt.Errorf("%w: frame at offset %d claims %d bytes, %d records", ErrCorrupt, fr.off, size, count)
	}
	if cap(fr.buf) < int(size) {
		fr.buf = make([]byte, size)
	}
	fr.buf = fr.buf[:size]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		return nil, 0, fmt.Errorf("%w: frame at offset %d cut short", ErrCorrupt, fr.off)
	}
	c := crc32.Update(0, castagnoli, h[4:8])
	c = crc32.Update(c, castagnoli, fr.buf)
	if c != binary.LittleEndian.Uint32(h[8:12]) {
		return nil, 0, fmt.Errorf("%w: checksum mismatch in frame at offset %d", ErrCorrupt, fr.off)
	}
	fr.off += frameHeader + int64(size)
	fr.count += int(count)
	return fr.buf, int(count), nil
}

// Decode streams the frames of a chunk file from r, calling fn with each
// frame's payload and record count. It returns the length of the valid prefix
// and the number of records in it; err is nil at a clean end, or wraps
// ErrCorrupt at the first damaged frame (what came before it is valid).
func Decode(r io.Reader, fn func(payload []byte, count int) error) (valid int64, records int, err error) {
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
		if fn != nil {
			if err := fn(p, n); err != nil {
				return fr.off, fr.count, err
			}
		}
	}
}
