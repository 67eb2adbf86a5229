package buffer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/spillwayhq/spillway/forwarder/intake"
)

// Append stores count records (concatenated msgpack maps) for tag. It returns
// once they are written and fsynced. On error nothing of the call is stored.
func (b *Buffer) Append(ctx context.Context, tag string, records []byte, count int) error {
	if count <= 0 || len(records) == 0 {
		return nil
	}
	b.appending.RLock()
	defer b.appending.RUnlock()
	p, err := b.prepare(tag, records, count, nil)
	if err != nil {
		return err
	}
	defer p.Discard()
	return b.commit(ctx, p)
}

// Prepared is a batch of records compressed by Prepare and not yet stored.
type Prepared struct {
	b     *Buffer
	tag   string
	fb    *bytes.Buffer // the frame, its checkpoint record not stamped yet
	count int
	raw   int
	cp    bool // the frame carries a checkpoint record
}

var _ intake.Prepared = (*Prepared)(nil)

// Prepare does the expensive part of Append - checks and compression -
// without storing anything, so a source can compress its next batch while
// the previous one is written and fsynced. checkpoint, when not nil, is an
// opaque checkpoint record (the position the records reach, see package
// checkpoint) stored in the same frame as the records: it is durable exactly
// when they are, and it is handed to the configured Checkpoint as the frame
// is committed (Stamp, then Committed) and when the chunk is recovered
// (Recover). Commit stores the batch; Prepared batches of one source must be
// committed in order, as the positions they carry are. records and
// checkpoint may be reused once Prepare returns.
func (b *Buffer) Prepare(tag string, records []byte, count int, checkpoint []byte) (intake.Prepared, error) {
	if count <= 0 || len(records) == 0 {
		return nil, fmt.Errorf("prepare %s: no records", tag)
	}
	p, err := b.prepare(tag, records, count, checkpoint)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (b *Buffer) prepare(tag string, records []byte, count int, meta []byte) (*Prepared, error) {
	if meta != nil {
		if b.cfg.Checkpoint == nil {
			return nil, errors.New("a checkpoint record for a buffer without a Checkpoint")
		}
		if len(meta) > maxMeta {
			return nil, fmt.Errorf("position of %d bytes is over the %d limit", len(meta), maxMeta)
		}
	}
	if err := b.checkTag(tag); err != nil {
		return nil, fmt.Errorf("%w: %w", intake.ErrUnroutable, err)
	}
	if len(records) > MaxFrame {
		return nil, fmt.Errorf("%d record bytes are over the %d frame limit", len(records), MaxFrame)
	}
	// Compress before taking any lock: appends of other tags proceed, and
	// the total limit is charged with the bytes that reach the disk.
	fb, err := b.frame(records, count, meta)
	if err != nil {
		return nil, err
	}
	return &Prepared{b: b, tag: tag, fb: fb, count: count, raw: len(records), cp: meta != nil}, nil
}

// Commit stores the prepared records: written and fsynced in the tag's open
// chunk. It returns intake.ErrFull when the buffer is full and the overflow
// policy blocks; the batch stays prepared and Commit may be called again.
// After any other result the batch is spent.
func (p *Prepared) Commit(ctx context.Context) error {
	if p.fb == nil {
		return errors.New("prepared batch already committed or discarded")
	}
	p.b.appending.RLock()
	defer p.b.appending.RUnlock()
	err := p.b.commit(ctx, p)
	if !errors.Is(err, intake.ErrFull) {
		p.Discard()
	}
	return err
}

// Discard releases a prepared batch that will not be committed.
func (p *Prepared) Discard() {
	if p.fb != nil {
		p.b.frames.Put(p.fb)
		p.fb = nil
	}
}

// commit writes p (the caller holds b.appending read-locked).
func (b *Buffer) commit(ctx context.Context, p *Prepared) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	frame := p.fb.Bytes()
	h := frame[:frameHeader]
	meta := frame[frameHeader : frameHeader+binary.LittleEndian.Uint32(h[8:12])]
	if p.cp {
		b.cfg.Checkpoint.Stamp(meta)
	}
	binary.LittleEndian.PutUint32(h[16:20], crc32.Update(crc32.Update(0, castagnoli, h[4:16]), castagnoli, frame[frameHeader:]))
	n := int64(len(frame))
	for {
		oc, err := b.reserve(p.tag, n, int64(p.raw))
		if err != nil {
			return err
		}
		oc.mu.Lock()
		if oc.sealed { // sealed between reserve and lock: retry on a new chunk
			oc.mu.Unlock()
			b.unreserve(n)
			continue
		}
		err = b.write(oc, frame, p.count)
		if err == nil && p.cp {
			oc.hasCheckpoint = true
			b.cfg.Checkpoint.Committed(meta)
		}
		full := err == nil && oc.raw.Load() >= b.cfg.ChunkLimit
		oc.mu.Unlock()
		if err != nil {
			oc.raw.Add(-int64(p.raw))
			b.unreserve(n)
			return err
		}
		b.appended.Add(uint64(p.count))
		if full {
			b.seal(oc)
		}
		return nil
	}
}

func (b *Buffer) unreserve(n int64) {
	b.mu.Lock()
	b.total -= n
	b.mu.Unlock()
}

// reserve accounts n bytes against the total limit and raw record bytes
// against the chunk limit, and returns the open chunk of tag that should take
// them, creating or rotating it.
func (b *Buffer) reserve(tag string, n, raw int64) (*openChunk, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if b.total+n > b.cfg.TotalLimit {
		if b.cfg.Overflow == OverflowDropOldest {
			b.dropOldestLocked(b.total + n - b.cfg.TotalLimit)
		}
		if b.total+n > b.cfg.TotalLimit {
			b.full.Add(1)
			return nil, intake.ErrFull
		}
	}
	oc := b.open[tag]
	if r := oc.rawBytes(); r > 0 && r+raw > b.cfg.ChunkLimit {
		delete(b.open, tag)
		b.detached.Add(1)
		go func(full *openChunk) {
			defer b.detached.Done()
			b.sealDetached(full)
		}(oc)
		oc = nil
	}
	if oc == nil {
		var err error
		oc, err = b.create(tag)
		if err != nil {
			return nil, err
		}
		b.open[tag] = oc
		b.total += oc.size
	}
	b.total += n
	oc.raw.Add(raw)
	return oc, nil
}

func (b *Buffer) dropOldestLocked(need int64) {
	for need > 0 && len(b.queue) > 0 {
		c := b.queue[0]
		if c.hasCheckpoint {
			if err := b.cfg.Checkpoint.Save(); err != nil {
				b.log.Error("drop oldest chunk", "unique_id", c.ID, "tag", c.Tag, "error", err)
				return
			}
		}
		b.queue = b.queue[1:]
		if err := os.Remove(c.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			b.log.Error("drop oldest chunk", "unique_id", c.ID, "tag", c.Tag, "error", err)
		}
		b.total -= c.Size
		need -= c.Size
		b.droppedChunks.Add(1)
		if c.Records > 0 {
			b.droppedRecs.Add(uint64(c.Records))
		}
		b.log.Warn("buffer full: dropped oldest chunk", "db", c.DB, "table", c.Table, "unique_id", c.ID, "records", c.Records, "bytes", c.Size)
	}
}

// minPart is the smallest piece of a batch compressed on its own goroutine.
const minPart = 256 << 10

// frame builds the frame of count records, its checksum left to commit:
// the records are cut in up to GOMAXPROCS pieces (at any byte: gzip members
// and zstd frames concatenate), compressed in parallel with the configured
// codec. The returned buffer goes back to b.frames after use.
func (b *Buffer) frame(records []byte, count int, meta []byte) (*bytes.Buffer, error) {
	parts := min(runtime.GOMAXPROCS(0), len(records)/minPart, 8)
	parts = max(parts, 1)
	fb := b.frames.Get().(*bytes.Buffer)
	fb.Reset()
	fb.Grow(frameHeader + len(meta) + len(records)/4)
	var zero [frameHeader]byte
	fb.Write(zero[:])
	fb.Write(meta)
	var rest [7]*bytes.Buffer
	var errs [8]error
	var wg sync.WaitGroup
	cut := func(i int) []byte { return records[i*len(records)/parts : (i+1)*len(records)/parts] }
	for i := 1; i < parts; i++ {
		pb := b.frames.Get().(*bytes.Buffer)
		pb.Reset()
		rest[i-1] = pb
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.compressTo(b.cfg.Compression, pb, cut(i))
		}()
	}
	errs[0] = b.compressTo(b.cfg.Compression, fb, cut(0))
	wg.Wait()
	for i := 1; i < parts; i++ {
		fb.Write(rest[i-1].Bytes())
		b.frames.Put(rest[i-1])
	}
	if err := errors.Join(errs[:parts]...); err != nil {
		b.frames.Put(fb)
		return nil, fmt.Errorf("compress records: %w", err)
	}
	f := fb.Bytes()
	h := f[:frameHeader]
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(f)-frameHeader-len(meta)))
	binary.LittleEndian.PutUint32(h[4:8], uint32(count))
	binary.LittleEndian.PutUint32(h[8:12], uint32(len(meta)))
	binary.LittleEndian.PutUint32(h[12:16], uint32(len(records)))
	return fb, nil // the checksum is set by commit, after the position sequence
}

// compressTo appends p to w as one gzip member or zstd frame.
func (b *Buffer) compressTo(codec Codec, w *bytes.Buffer, p []byte) error {
	if codec == Zstd {
		w.Grow(len(p)/4 + 64)
		out := b.zenc.EncodeAll(p, w.AvailableBuffer())
		w.Write(out)
		return nil
	}
	return b.gzipTo(w, p)
}

// gzipTo appends p to w as one gzip member.
func (b *Buffer) gzipTo(w io.Writer, p []byte) error {
	zw, _ := b.gz.Get().(*gzip.Writer)
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(w, b.cfg.GzipLevel); err != nil {
			return err
		}
	} else {
		zw.Reset(w)
	}
	defer b.gz.Put(zw)
	if _, err := zw.Write(p); err != nil {
		return err
	}
	return zw.Close()
}
