package tail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spillwayhq/spillway/forwarder/checkpoint"
	"github.com/spillwayhq/spillway/forwarder/intake"
)

// inflight is a batch being stored by a helper goroutine while the tailer
// parses the next one: batches are compressed concurrently and committed in
// order, so parsing, compressing and fsyncing overlap.
type inflight struct {
	done   chan struct{} // closed when err is set
	err    error
	e      *entry
	commit int64
	batch  []byte
}

// maxInflight bounds the batches being stored at once.
const maxInflight = 2

// wait completes every in-flight batch, oldest first, and advances their
// entries; it returns the first error.
func (t *Tailer) wait() error {
	var first error
	for len(t.pending) > 0 {
		if err := t.waitOldest(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// waitOldest completes the oldest in-flight batch and advances its entry.
func (t *Tailer) waitOldest() error {
	p := t.pending[0]
	t.pending = t.pending[1:]
	<-p.done
	t.spares = append(t.spares, p.batch[:0])
	if p.err != nil {
		return p.err
	}
	if p.commit > p.e.offset {
		p.e.offset = p.commit
	}
	t.updateFP(p.e)
	t.dirty = true
	return nil
}

// storeBatchAsync hands the batch to a helper goroutine and returns at once
// (after waiting for the oldest one when maxInflight are in flight).
func (t *Tailer) storeBatchAsync(ctx context.Context, w *watch, e *entry) error {
	for len(t.pending) >= maxInflight {
		if err := t.waitOldest(); err != nil {
			return errors.Join(err, t.wait())
		}
	}
	if t.count == 0 {
		return nil
	}
	var prev *inflight
	if n := len(t.pending); n > 0 {
		prev = t.pending[n-1]
	}
	p := &inflight{done: make(chan struct{}), e: e, commit: e.commit(), batch: t.batch}
	pos, key := t.position(w, e, p.commit)
	count := t.count
	t.batch, t.count = nil, 0
	if n := len(t.spares); n > 0 {
		t.batch, t.spares = t.spares[n-1], t.spares[:n-1]
	}
	t.pending = append(t.pending, p)
	go func() {
		defer close(p.done)
		p.err = t.storeInOrder(ctx, prev, w.tag, p.batch, count, key, pos, e.path)
	}()
	return nil
}

// storeInOrder prepares a batch, waits for the batch before it (prev, may be nil)
// to be committed, and commits it.
func (t *Tailer) storeInOrder(ctx context.Context, prev *inflight, tag string, batch []byte, count int, key string, pos []byte, path string) error {
	pb, err := t.prepare(tag, batch, count, key, pos)
	if err != nil {
		return fmt.Errorf("append %d lines of %s: %w", count, path, err)
	}
	if prev != nil {
		<-prev.done
		if prev.err != nil {
			pb.Discard()
			return fmt.Errorf("append %d lines of %s: an earlier batch failed", count, path)
		}
	}
	return t.commitRetry(ctx, pb, count, path)
}

func (t *Tailer) position(w *watch, e *entry, c int64) ([]byte, string) {
	pos, _ := json.Marshal(posEntry{Dev: e.dev, Ino: e.ino, FPLen: e.fpLen, FP: e.fp, Offset: c})
	key := t.cfg.Name + "\x00" + w.key + "\x00" + strconv.FormatUint(e.dev, 10) + ":" + strconv.FormatUint(e.ino, 10)
	return pos, key
}

// prepare hands a batch and the checkpoint record of its position to the
// buffer for compression.
func (t *Tailer) prepare(tag string, batch []byte, count int, key string, pos []byte) (intake.Prepared, error) {
	rec, err := checkpoint.NewRecord(key, pos)
	if err != nil {
		return nil, err
	}
	return t.dst.Prepare(tag, batch, count, rec)
}

// appendRetry stores a batch at once, waiting while the buffer is full.
func (t *Tailer) appendRetry(ctx context.Context, tag string, batch []byte, count int, key string, pos []byte, path string) error {
	pb, err := t.prepare(tag, batch, count, key, pos)
	if err != nil {
		return fmt.Errorf("append %d lines of %s: %w", count, path, err)
	}
	return t.commitRetry(ctx, pb, count, path)
}

// commitRetry commits pb, waiting while the buffer is full.
func (t *Tailer) commitRetry(ctx context.Context, pb intake.Prepared, count int, path string) error {
	wait := 10 * time.Millisecond
	for {
		err := pb.Commit(ctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, intake.ErrFull) {
			return fmt.Errorf("append %d lines of %s: %w", count, path, err)
		}
		t.fullWaits.Add(1)
		tm := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			tm.Stop()
			pb.Discard()
			return ctx.Err()
		case <-tm.C:
		}
		wait = min(wait*2, time.Second)
	}
}

// storeBatch appends the batch with e's position (after any in-flight one) and
// advances e.offset.
func (t *Tailer) storeBatch(ctx context.Context, w *watch, e *entry) error {
	if err := t.wait(); err != nil {
		return err
	}
	c := e.commit()
	if t.count == 0 {
		if c != e.offset {
			e.offset = c
			t.updateFP(e)
			t.dirty = true
		}
		return nil
	}
	pos, key := t.position(w, e, c)
	if err := t.appendRetry(ctx, w.tag, t.batch, t.count, key, pos, e.path); err != nil {
		return err
	}
	t.batch, t.count = t.batch[:0], 0
	e.offset = c
	t.updateFP(e)
	t.dirty = true
	return nil
}
