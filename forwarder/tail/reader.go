package tail

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/spillwayhq/spillway/forwarder/filter"
	"github.com/spillwayhq/spillway/forwarder/parser"
)

// read consumes e from readPos to its end in blocks. When a batch cannot be
// stored, reading rewinds to the end of what was stored, so the lines are
// read again at the next poll.
func (t *Tailer) read(ctx context.Context, w *watch, e *entry) error {
	err := t.readBlocks(ctx, w, e)
	if err != nil && ctx.Err() == nil {
		t.batch, t.count = t.batch[:0], 0
		e.readPos, e.ml, e.skipping = e.offset, nil, false
	}
	return err
}

func (t *Tailer) readBlocks(ctx context.Context, w *watch, e *entry) error {
	if e.f == nil {
		return nil
	}
	for ctx.Err() == nil {
		n, rerr := e.f.ReadAt(t.buf, e.readPos)
		if n == 0 {
			if rerr != nil && rerr != io.EOF {
				return fmt.Errorf("read %s: %w", e.path, rerr)
			}
			break
		}
		if e.readPos+int64(n) > e.size {
			e.size = e.readPos + int64(n)
		}
		t.readAt = t.now()
		consumed := t.lines(e, t.buf[:n])
		t.nBytes.Add(uint64(consumed))
		e.readPos += int64(consumed)
		if len(t.batch) >= t.cfg.BatchBytes {
			if err := t.storeBatchAsync(ctx, w, e); err != nil {
				return err
			}
		}
		if n < len(t.buf) {
			break
		}
	}
	if err := t.storeBatch(ctx, w, e); err != nil {
		return err
	}
	return ctx.Err()
}

// lines parses the complete lines of data and returns the bytes consumed.
func (t *Tailer) lines(e *entry, data []byte) int {
	pos := 0
	for pos < len(data) {
		i := bytes.IndexByte(data[pos:], '\n')
		if i < 0 {
			if len(data)-pos > t.cfg.MaxLineSize && !e.skipping {
				// keep the first MaxLineSize bytes, skip to the newline
				start := e.readPos + int64(pos)
				t.truncLines.Add(1)
				t.log.Warn("line over max_line_size truncated", "path", e.path, "offset", start, "max_line_size", t.cfg.MaxLineSize)
				t.line(e, data[pos:pos+t.cfg.MaxLineSize], start, start+int64(len(data)-pos))
				e.skipping = true
				return len(data)
			}
			if e.skipping {
				return len(data)
			}
			return pos
		}
		end := pos + i
		if e.skipping {
			e.skipping = false
		} else {
			l := data[pos:end]
			if len(l) > t.cfg.MaxLineSize {
				t.truncLines.Add(1)
				t.log.Warn("line over max_line_size truncated", "path", e.path, "offset", e.readPos+int64(pos), "max_line_size", t.cfg.MaxLineSize)
				l = l[:t.cfg.MaxLineSize]
			}
			t.line(e, l, e.readPos+int64(pos), e.readPos+int64(end)+1)
		}
		pos = end + 1
	}
	return pos
}

func (t *Tailer) record(l []byte) {
	now := t.readAt
	var err error
	before := len(t.batch)
	t.batch, err = t.parse.AppendRecord(t.batch, l, now)
	if err != nil {
		t.batch = parser.AppendUnparsed(t.batch[:before], l, now)
		t.parseErrs.Add(1)
	}
	if t.cur != nil && len(t.cur.fields) > 0 {
		// Only a broken parser could make this fail; the record stays
		// without the fields then.
		t.batch, _ = filter.AppendFields(t.batch, before, t.cur.fields...)
	}
	t.count++
	t.nLines.Add(1)
}
