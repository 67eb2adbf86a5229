package buffer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"
)

// Body returns the chunk's records as a gzip TD import body (msgpack.gz),
// the format every endpoint accepts; see BodyAs.
func (b *Buffer) Body(c *Chunk) ([]byte, error) {
	body, _, err := b.BodyAs(c, false)
	return body, err
}

// BodyAs returns the chunk's records as a TD import body and its codec: a
// compressed msgpack map stream. A chunk stored with gzip (version 2), or
// with zstd (version 3) when zstdOK, is sent as stored: the concatenation of
// its frames' members or frames, nothing is recompressed. A zstd chunk when
// !zstdOK is converted to one gzip member, and a version-1 chunk is
// compressed here. Chunks of many small frames (http, forward inputs) are
// compressed again as one member or frame, and with SingleMemberBody every
// gzip body is one member. A damaged frame (disk corruption) ends the body
// early; the loss is logged. Records is set from what was read.
func (b *Buffer) BodyAs(c *Chunk, zstdOK bool) ([]byte, Codec, error) {
	f, err := os.Open(c.path)
	if err != nil {
		return nil, "", fmt.Errorf("open chunk %s: %w", c.ID, err)
	}
	defer f.Close()
	fr, err := newFrameReader(f)
	if err != nil {
		return nil, "", fmt.Errorf("read chunk %s: %w", c.ID, err)
	}
	stored := fr.codec()
	out := Gzip
	if zstdOK && (stored == Zstd || stored == "" && b.cfg.Compression == Zstd) {
		out = Zstd
	}
	var body bytes.Buffer
	plain := new(bytes.Buffer)
	frames, raw := 0, 0
	var fn func(p []byte, _ int) error
	switch {
	case stored == out:
		body.Grow(int(c.Size))
		fn = func(p []byte, _ int) error {
			frames++
			raw += fr.raw
			_, err := body.Write(p)
			return err
		}
	case stored == Zstd: // sent as gzip: decompressed frame by frame
		fn = func(p []byte, _ int) error {
			d, err := b.zdec.DecodeAll(p, plain.AvailableBuffer())
			if err != nil {
				return fmt.Errorf("%w: zstd frame: %v", ErrCorrupt, err)
			}
			plain.Write(d)
			return nil
		}
	default: // version 1: raw msgpack
		fn = func(p []byte, _ int) error { _, err := plain.Write(p); return err }
	}
	_, recs, derr := fr.each(fn, nil)
	if derr != nil {
		if !errors.Is(derr, ErrCorrupt) {
			return nil, "", fmt.Errorf("read chunk %s: %w", c.ID, derr)
		}
		b.log.Error("sealed chunk is damaged; shipping its valid prefix", "db", c.DB, "table", c.Table, "unique_id", c.ID, "records", recs, "error", derr)
	}
	c.Records = recs
	if frames > 0 && (out == Gzip && b.cfg.SingleMemberBody || frames > 1 && raw/frames < smallFrame) {
		// Many small appends (http, forward): one member each compresses
		// poorly, so the body is compressed again as one.
		if err := b.decompress(out, body.Bytes(), plain, raw); err != nil {
			return nil, "", fmt.Errorf("recompress chunk %s: %w", c.ID, err)
		}
		body.Reset()
	}
	if body.Len() == 0 {
		if err := b.compressTo(out, &body, plain.Bytes()); err != nil {
			return nil, "", fmt.Errorf("compress chunk %s: %w", c.ID, err)
		}
	}
	return body.Bytes(), out, nil
}

// smallFrame is the average raw frame size under which BodyAs compresses a
// chunk's records again as one member or frame.
const smallFrame = 16 << 10

// decompress appends to plain the records of a stored body (gzip members
// or zstd frames, raw bytes once decompressed).
func (b *Buffer) decompress(codec Codec, stored []byte, plain *bytes.Buffer, raw int) error {
	plain.Grow(raw)
	if codec == Zstd {
		d, err := b.zdec.DecodeAll(stored, plain.AvailableBuffer())
		if err != nil {
			return err
		}
		plain.Write(d)
		return nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(stored))
	if err != nil {
		return err
	}
	_, err = io.Copy(plain, zr)
	return err
}
