package buffer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// Chunk file format, versions 2 and 3 (written by this version: magic
// "SPWBUF03" when records are compressed with zstd, the default, "SPWBUF02"
// when with gzip). A chunk file starts with the 8-byte magic and holds a
// sequence of frames, one per Append:
//
//	uint32 little-endian stored payload length
//	uint32 little-endian record count
//	uint32 little-endian metadata length (0 when none)
//	uint32 little-endian raw length (msgpack bytes before compression)
//	uint32 little-endian CRC-32C (Castagnoli) of count, metadata length,
//	       raw length, metadata and stored payload
//	metadata: a checkpoint record (see Prepare), stored with the records
//	payload: one or more gzip members (version 2) or zstd frames (version 3)
//	         whose decompressed concatenation is count concatenated msgpack
//	         maps (raw length bytes)
//
// The records are compressed before they are written and fsynced, so a
// chunk's body for the TD import API is the concatenation of its frames'
// payloads (a multi-member gzip or multi-frame zstd stream), and about 8x
// fewer bytes are fsynced than with raw msgpack.
//
// Version 1 (magic "SPWBUF01", written by earlier versions) has a 16-byte
// frame header without the raw length, the CRC over count, metadata length,
// metadata and payload, and an uncompressed payload. It is still read:
// the output compresses such chunks when they are shipped.
//
// A frame that is cut short or fails its checksum ends the valid part of the
// file: everything from it on is a torn tail (a crash during a write) and is
// cut at recovery.
const (
	magic         = "SPWBUF02" // gzip payloads
	magicZstd     = "SPWBUF03" // zstd payloads
	magicV1       = "SPWBUF01"
	frameHeader   = 20
	frameHeaderV1 = 16
	// MaxFrame bounds one frame's stored payload and raw length; a length
	// above it is corruption.
	MaxFrame = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by decoding errors: bad magic, a short frame, a
// checksum mismatch or an impossible length.
var ErrCorrupt = errors.New("corrupt chunk file")

// ErrUnsupportedVersion is returned for a chunk file whose magic names a
// format version this build cannot read (written by a newer build). Such
// files are left untouched on disk.
var ErrUnsupportedVersion = errors.New("unsupported chunk format version")

// Codec names how a chunk's records are compressed on disk and in a body.
type Codec string

// Codecs.
const (
	Gzip Codec = "gzip"
	Zstd Codec = "zstd"
)

// appendFrame appends one version-2 or -3 frame to dst: payload is the stored
// (compressed) form of count records that are raw bytes long.
func appendFrame(dst, payload []byte, count, raw int, meta []byte) []byte {
	var h [frameHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:8], uint32(count))
	binary.LittleEndian.PutUint32(h[8:12], uint32(len(meta)))
	binary.LittleEndian.PutUint32(h[12:16], uint32(raw))
	c := crc32.Update(0, castagnoli, h[4:16])
	c = crc32.Update(c, castagnoli, meta)
	c = crc32.Update(c, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[16:20], c)
	dst = append(dst, h[:]...)
	dst = append(dst, meta...)
	return append(dst, payload...)
}

// appendFrameV1 appends one version-1 frame (uncompressed payload); only
// tests write version 1, to check that old chunks are still read.
func appendFrameV1(dst, payload []byte, count int, meta []byte) []byte {
	var h [frameHeaderV1]byte
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
	r       *bufio.Reader
	version int   // 1, 2 or 3
	off     int64 // offset of the end of the last valid frame
	buf     []byte
	count   int
	meta    []byte // metadata of the last frame returned
	raw     int    // raw (uncompressed) length of the last frame returned
}

// maxMeta bounds a frame's metadata.
const maxMeta = 64 << 10

func newFrameReader(r io.Reader) (*frameReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var m [len(magic)]byte
	if _, err := io.ReadFull(br, m[:]); err != nil {
		return nil, fmt.Errorf("%w: read magic: %v", ErrCorrupt, err)
	}
	fr := &frameReader{r: br, off: int64(len(magic))}
	switch string(m[:]) {
	case magic:
		fr.version = 2
	case magicZstd:
		fr.version = 3
	case magicV1:
		fr.version = 1
	default:
		if string(m[:6]) == magic[:6] {
			return nil, fmt.Errorf("%w: %q (this build reads %q, %q and %q)", ErrUnsupportedVersion, m[:], magicV1, magic, magicZstd)
		}
		return nil, fmt.Errorf("%w: bad magic %q", ErrCorrupt, m[:])
	}
	return fr, nil
}

// codec returns how frame payloads are compressed: "" for version 1 (raw
// msgpack), Gzip for version 2, Zstd for version 3.
func (fr *frameReader) codec() Codec {
	switch fr.version {
	case 2:
		return Gzip
	case 3:
		return Zstd
	}
	return ""
}

// next returns the next frame's stored payload (valid until the next call)
// and its record count. It returns io.EOF at a clean end and an ErrCorrupt
// error at a torn or damaged frame; fr.off is then the length of the valid
// prefix.
func (fr *frameReader) next() ([]byte, int, error) {
	hl := frameHeader
	if fr.version == 1 {
		hl = frameHeaderV1
	}
	var hb [frameHeader]byte
	h := hb[:hl]
	n, err := io.ReadFull(fr.r, h)
	if err == io.EOF {
		return nil, 0, io.EOF
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: short frame header at offset %d (%d bytes)", ErrCorrupt, fr.off, n)
	}
	size := binary.LittleEndian.Uint32(h[0:4])
	count := binary.LittleEndian.Uint32(h[4:8])
	mlen := binary.LittleEndian.Uint32(h[8:12])
	raw, sum := size, binary.LittleEndian.Uint32(h[12:16])
	if fr.version >= 2 {
		raw, sum = binary.LittleEndian.Uint32(h[12:16]), binary.LittleEndian.Uint32(h[16:20])
	}
	if size > MaxFrame || raw > MaxFrame || count > raw || mlen > maxMeta {
		return nil, 0, fmt.Errorf("%w: frame at offset %d claims %d bytes (%d raw), %d records, %d metadata bytes", ErrCorrupt, fr.off, size, raw, count, mlen)
	}
	total := int(size) + int(mlen)
	if cap(fr.buf) < total {
		fr.buf = make([]byte, total)
	}
	fr.buf = fr.buf[:total]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		return nil, 0, fmt.Errorf("%w: frame at offset %d cut short", ErrCorrupt, fr.off)
	}
	c := crc32.Update(0, castagnoli, h[4:hl-4])
	c = crc32.Update(c, castagnoli, fr.buf)
	if c != sum {
		return nil, 0, fmt.Errorf("%w: checksum mismatch in frame at offset %d", ErrCorrupt, fr.off)
	}
	fr.off += int64(hl + total)
	fr.count += int(count)
	fr.meta = fr.buf[:mlen]
	fr.raw = int(raw)
	return fr.buf[mlen:], int(count), nil
}

// Decode streams the frames of a chunk file from r, calling fn with each
// frame's stored payload (gzip members in version 2, zstd frames in version
// 3, raw msgpack in version 1) and record count. It returns the length of the valid prefix and the
// number of records in it; err is nil at a clean end, or wraps ErrCorrupt at
// the first damaged frame (what came before it is valid).
func Decode(r io.Reader, fn func(payload []byte, count int) error) (valid int64, records int, err error) {
	return decodeMeta(r, fn, nil)
}

// decodeMeta is Decode that also reports each non-empty frame metadata.
func decodeMeta(r io.Reader, fn func(payload []byte, count int) error, metaFn func(meta []byte)) (valid int64, records int, err error) {
	fr, err := newFrameReader(r)
	if err != nil {
		return 0, 0, err
	}
	return fr.each(fn, metaFn)
}

// each reads the frames left in fr (see decodeMeta).
func (fr *frameReader) each(fn func(payload []byte, count int) error, metaFn func(meta []byte)) (valid int64, records int, err error) {
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

// ChunkReader streams the frames of a sealed chunk, for the output to build
// an import body from them.
type ChunkReader struct {
	f  *os.File
	fr *frameReader
}

// Read opens c to stream its frames. The error wraps ErrCorrupt or
// ErrUnsupportedVersion when the file does not start like a chunk.
func (c *Chunk) Read() (*ChunkReader, error) {
	f, err := os.Open(c.path)
	if err != nil {
		return nil, fmt.Errorf("open chunk %s: %w", c.ID, err)
	}
	fr, err := newFrameReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read chunk %s: %w", c.ID, err)
	}
	return &ChunkReader{f: f, fr: fr}, nil
}

// Codec returns how the chunk's frame payloads are compressed: Gzip
// (version 2), Zstd (version 3), or "" for raw msgpack (version 1).
func (r *ChunkReader) Codec() Codec { return r.fr.codec() }

// Each calls fn with each frame's stored payload (valid until fn returns)
// and its raw length (msgpack bytes before compression). It returns the
// number of records read; err is nil at a clean end, fn's error, or wraps
// ErrCorrupt at the first damaged frame (what came before it is valid).
func (r *ChunkReader) Each(fn func(payload []byte, raw int) error) (records int, err error) {
	for {
		p, _, err := r.fr.next()
		if err == io.EOF {
			return r.fr.count, nil
		}
		if err != nil {
			return r.fr.count, err
		}
		if err := fn(p, r.fr.raw); err != nil {
			return r.fr.count, err
		}
	}
}

// Close closes the chunk file.
func (r *ChunkReader) Close() error { return r.f.Close() }
