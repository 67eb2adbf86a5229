package buffer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Next returns the oldest sealed chunk not in flight, waiting for one until
// ctx ends. The caller must Ack, Park or Release it.
func (b *Buffer) Next(ctx context.Context) (*Chunk, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		if len(b.queue) > 0 {
			c := b.queue[0]
			b.queue = b.queue[1:]
			b.inflight[c.ID] = c
			b.mu.Unlock()
			return c, nil
		}
		ch := b.notify
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// TryNext is Next without waiting: it returns nil when no chunk is queued.
func (b *Buffer) TryNext() *Chunk {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(b.queue) == 0 {
		return nil
	}
	c := b.queue[0]
	b.queue = b.queue[1:]
	b.inflight[c.ID] = c
	return c
}

// Ack deletes a shipped chunk.
func (b *Buffer) Ack(c *Chunk) error {
	if c.hasCheckpoint {
		if err := b.cfg.Checkpoint.Save(); err != nil {
			return fmt.Errorf("ack chunk %s: %w", c.ID, err)
		}
	}
	err := os.Remove(c.path)
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	b.mu.Lock()
	if _, ok := b.inflight[c.ID]; ok {
		delete(b.inflight, c.ID)
		b.total -= c.Size
	}
	b.mu.Unlock()
	b.acked.Add(1)
	if err != nil {
		return fmt.Errorf("delete shipped chunk %s: %w", c.ID, err)
	}
	return nil
}

// Release puts an in-flight chunk back in the queue for a later attempt.
func (b *Buffer) Release(c *Chunk) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.inflight[c.ID]; !ok {
		return
	}
	delete(b.inflight, c.ID)
	i := sort.Search(len(b.queue), func(i int) bool { return b.queue[i].ID > c.ID })
	b.queue = append(b.queue, nil)
	copy(b.queue[i+1:], b.queue[i:])
	b.queue[i] = c
	b.wakeLocked()
}

// Park moves a refused chunk to failed/ next to a .response file holding the
// server's answer. Parked chunks are never retried nor deleted by the buffer.
func (b *Buffer) Park(c *Chunk, answer []byte) error {
	if c.hasCheckpoint {
		if err := b.cfg.Checkpoint.Save(); err != nil {
			return fmt.Errorf("park chunk %s: %w", c.ID, err)
		}
	}
	dir := filepath.Join(b.cfg.Dir, failedDir)
	base := filepath.Base(c.path)
	if err := os.WriteFile(filepath.Join(dir, base+".response"), answer, 0o600); err != nil {
		return fmt.Errorf("write response of parked chunk %s: %w", c.ID, err)
	}
	if err := os.Rename(c.path, filepath.Join(dir, base)); err != nil {
		return fmt.Errorf("park chunk %s: %w", c.ID, err)
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	b.mu.Lock()
	if _, ok := b.inflight[c.ID]; ok {
		delete(b.inflight, c.ID)
		b.total -= c.Size
	}
	b.mu.Unlock()
	b.parked.Add(1)
	b.log.Error("chunk parked", "db", c.DB, "table", c.Table, "unique_id", c.ID, "records", c.Records, "dir", dir)
	return nil
}
