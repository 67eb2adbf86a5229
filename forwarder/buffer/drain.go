package buffer

import (
	"context"
	"sync"
	"sync/atomic"
)

// DrainQueued ships what is queued now with concurrency workers, each
// taking chunks with next (nil: the queue is empty) and handing them to
// ship, and returns when the queue is empty, a ship failed (that worker
// stops; the chunk is the shipper's to release), or ctx ends. It returns
// the first ship error, else ctx's error.
func DrainQueued(ctx context.Context, concurrency int, next func() *Chunk, ship func(context.Context, *Chunk) error) error {
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c := next()
				if c == nil {
					return
				}
				if err := ship(ctx, c); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	return ctx.Err()
}
