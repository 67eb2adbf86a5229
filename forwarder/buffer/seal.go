package buffer

import (
	"context"
	"os"
	"sort"
	"strings"
	"time"
)

func (b *Buffer) sealDetached(oc *openChunk) { b.finishSeal(oc) }

// seal removes oc from the open set (if still there) and seals it.
func (b *Buffer) seal(oc *openChunk) {
	b.mu.Lock()
	if b.open[oc.tag] == oc {
		delete(b.open, oc.tag)
	}
	b.mu.Unlock()
	b.finishSeal(oc)
}

// finishSeal closes and renames oc and queues it (oc is no longer in b.open).
func (b *Buffer) finishSeal(oc *openChunk) {
	oc.mu.Lock()
	if oc.sealed {
		oc.mu.Unlock()
		return
	}
	oc.sealed = true
	_ = oc.f.Close()
	oc.mu.Unlock()
	if oc.records == 0 {
		b.mu.Lock()
		b.total -= oc.size
		b.mu.Unlock()
		_ = os.Remove(oc.path)
		return
	}
	sp := strings.TrimSuffix(oc.path, openExt) + sealedExt
	if err := os.Rename(oc.path, sp); err != nil {
		// The file stays open-named; recovery at the next start seals it.
		b.log.Error("seal chunk", "unique_id", oc.id, "tag", oc.tag, "error", err)
		b.mu.Lock()
		b.total -= oc.size
		b.mu.Unlock()
		return
	}
	db, table := tagTable(oc.tag)
	c := &Chunk{ID: oc.id, Tag: oc.tag, DB: db, Table: table, Size: oc.size, Records: oc.records, path: sp, hasCheckpoint: oc.hasCheckpoint}
	b.mu.Lock()
	i := sort.Search(len(b.queue), func(i int) bool { return b.queue[i].ID > c.ID })
	b.queue = append(b.queue, nil)
	copy(b.queue[i+1:], b.queue[i:])
	b.queue[i] = c
	b.wakeLocked()
	b.mu.Unlock()
}

func (b *Buffer) wakeLocked() {
	close(b.notify)
	b.notify = make(chan struct{})
}

// SealDue seals every open chunk whose first record is older than the seal
// interval (flush_interval) and returns how many it sealed.
func (b *Buffer) SealDue() int {
	return b.sealWhere(func(oc *openChunk, now time.Time) bool { return now.Sub(oc.created) >= b.cfg.SealInterval })
}

// SealAll seals every open chunk now (SIGUSR1, shutdown) and returns how
// many. Appends already under way when it is called land in the chunks it
// seals.
func (b *Buffer) SealAll() int {
	b.appending.Lock()
	defer b.appending.Unlock()
	n := b.sealWhere(func(*openChunk, time.Time) bool { return true })
	b.detached.Wait() // chunks rotated in the background are queued too
	return n
}

func (b *Buffer) sealWhere(due func(*openChunk, time.Time) bool) int {
	now := b.cfg.Now()
	var todo []*openChunk
	b.mu.Lock()
	for tag, oc := range b.open {
		if due(oc, now) {
			delete(b.open, tag)
			todo = append(todo, oc)
		}
	}
	b.mu.Unlock()
	for _, oc := range todo {
		b.finishSeal(oc)
	}
	return len(todo)
}

// Run seals each open chunk when it reaches the seal interval, until ctx
// ends: it sleeps until the oldest open chunk is due (or a chunk is opened).
func (b *Buffer) Run(ctx context.Context) {
	t := time.NewTimer(b.untilDue())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.opened:
		case <-t.C:
			b.SealDue()
		}
		t.Reset(b.untilDue())
	}
}

// untilDue returns how long until the oldest open chunk is due to be sealed
// (the seal interval when none is open), at least 5 ms.
func (b *Buffer) untilDue() time.Duration {
	now := b.cfg.Now()
	d := b.cfg.SealInterval
	b.mu.Lock()
	for _, oc := range b.open {
		d = min(d, oc.created.Add(b.cfg.SealInterval).Sub(now))
	}
	b.mu.Unlock()
	return max(d, 5*time.Millisecond)
}
