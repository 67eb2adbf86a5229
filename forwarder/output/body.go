package output

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/spillwayhq/spillway/forwarder/buffer"
)

// BodyConfig is how import bodies are built from stored chunks. Its
// settings are configured in the buffer section (the agent copies them).
type BodyConfig struct {
	// GzipLevel is the gzip level, 1 (fastest) to 9, of gzip bodies the
	// output compresses itself (buffer.gzip_level).
	GzipLevel int
	// SingleMemberBody sends every gzip body as one member, compressing it
	// again at ship time, for endpoints whose gzip reader stops after the
	// first member (buffer.single_member_body).
	SingleMemberBody bool
	// Compression is the buffer's compression (buffer.compression): chunks
	// stored uncompressed (format version 1) are sent as zstd when it is
	// zstd and the endpoint takes zstd.
	Compression buffer.Codec
}

// defaultBodyConfig follows the buffer's defaults.
func defaultBodyConfig() BodyConfig {
	bd := buffer.DefaultConfig()
	return BodyConfig{GzipLevel: bd.GzipLevel, SingleMemberBody: bd.SingleMemberBody, Compression: bd.Compression}
}

// Bodies builds TD import bodies (compressed msgpack map streams) from
// sealed chunks, converting between the stored codec and the one an
// endpoint takes. Safe for concurrent use.
type Bodies struct {
	cfg  BodyConfig
	log  *slog.Logger
	gz   sync.Pool     // *gzip.Writer at cfg.GzipLevel
	zenc *zstd.Encoder // stateless EncodeAll, safe for concurrent use
	zdec *zstd.Decoder // DecodeAll, for zstd chunks sent as gzip
}

// NewBodies builds a Bodies; logger nil is slog.Default().
func NewBodies(cfg BodyConfig, logger *slog.Logger) (*Bodies, error) {
	if cfg.GzipLevel < 1 || cfg.GzipLevel > 9 {
		return nil, fmt.Errorf("body gzip level %d is not in 1..9", cfg.GzipLevel)
	}
	if logger == nil {
		logger = slog.Default()
	}
	bs := &Bodies{cfg: cfg, log: logger}
	var err error
	// The buffer's encoder settings: a 2 MiB window keeps frames within
	// the 8 MiB window Spillway's receivers accept (RFC 9659's limit for
	// HTTP).
	if bs.zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithWindowSize(2<<20), zstd.WithZeroFrames(true)); err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	if bs.zdec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(buffer.MaxFrame)); err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return bs, nil
}

// Body returns the chunk's records as a TD import body and its codec. A
// chunk stored with gzip (version 2), or with zstd (version 3) when zstdOK,
// is sent as stored: the concatenation of its frames' members or frames,
// nothing is recompressed. A zstd chunk when !zstdOK is converted to one
// gzip member, and a version-1 chunk is compressed here. Chunks of many
// small frames (http, forward inputs) are compressed again as one member or
// frame, and with SingleMemberBody every gzip body is one member. A damaged
// frame (disk corruption) ends the body early; the loss is logged. Records
// is set from what was read.
func (bs *Bodies) Body(c *buffer.Chunk, zstdOK bool) ([]byte, buffer.Codec, error) {
	r, err := c.Read()
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	stored := r.Codec()
	out := buffer.Gzip
	if zstdOK && (stored == buffer.Zstd || stored == "" && bs.cfg.Compression == buffer.Zstd) {
		out = buffer.Zstd
	}
	var body bytes.Buffer
	plain := new(bytes.Buffer)
	frames, raw := 0, 0
	var fn func(p []byte, raw int) error
	switch {
	case stored == out:
		body.Grow(int(c.Size))
		fn = func(p []byte, n int) error {
			frames++
			raw += n
			_, err := body.Write(p)
			return err
		}
	case stored == buffer.Zstd: // sent as gzip: decompressed frame by frame
		fn = func(p []byte, _ int) error {
			d, err := bs.zdec.DecodeAll(p, plain.AvailableBuffer())
			if err != nil {
				return fmt.Errorf("%w: zstd frame: %v", buffer.ErrCorrupt, err)
			}
			plain.Write(d)
			return nil
		}
	default: // version 1: raw msgpack
		fn = func(p []byte, _ int) error { _, err := plain.Write(p); return err }
	}
	recs, derr := r.Each(fn)
	if derr != nil {
		if !errors.Is(derr, buffer.ErrCorrupt) {
			return nil, "", fmt.Errorf("read chunk %s: %w", c.ID, derr)
		}
		bs.log.Error("sealed chunk is damaged; shipping its valid prefix", "db", c.DB, "table", c.Table, "unique_id", c.ID, "records", recs, "error", derr)
	}
	c.Records = recs
	if frames > 0 && (out == buffer.Gzip && bs.cfg.SingleMemberBody || frames > 1 && raw/frames < smallFrame) {
		// Many small appends (http, forward): one member each compresses
		// poorly, so the body is compressed again as one.
		if err := bs.decompress(out, body.Bytes(), plain, raw); err != nil {
			return nil, "", fmt.Errorf("recompress chunk %s: %w", c.ID, err)
		}
		body.Reset()
	}
	if body.Len() == 0 {
		if err := bs.compressTo(out, &body, plain.Bytes()); err != nil {
			return nil, "", fmt.Errorf("compress chunk %s: %w", c.ID, err)
		}
	}
	return body.Bytes(), out, nil
}

// smallFrame is the average raw frame size under which Body compresses a
// chunk's records again as one member or frame.
const smallFrame = 16 << 10

// decompress appends to plain the records of a stored body (gzip members
// or zstd frames, raw bytes once decompressed).
func (bs *Bodies) decompress(codec buffer.Codec, stored []byte, plain *bytes.Buffer, raw int) error {
	plain.Grow(raw)
	if codec == buffer.Zstd {
		d, err := bs.zdec.DecodeAll(stored, plain.AvailableBuffer())
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

// compressTo appends p to w as one gzip member or zstd frame.
func (bs *Bodies) compressTo(codec buffer.Codec, w *bytes.Buffer, p []byte) error {
	if codec == buffer.Zstd {
		w.Grow(len(p)/4 + 64)
		w.Write(bs.zenc.EncodeAll(p, w.AvailableBuffer()))
		return nil
	}
	zw, _ := bs.gz.Get().(*gzip.Writer)
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(w, bs.cfg.GzipLevel); err != nil {
			return err
		}
	} else {
		zw.Reset(w)
	}
	defer bs.gz.Put(zw)
	if _, err := zw.Write(p); err != nil {
		return err
	}
	return zw.Close()
}
