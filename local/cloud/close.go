package cloud

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Close stops every component in reverse start order and, when DataDir was
// a temp dir, removes it. It is safe to call more than once.
func (c *Cloud) Close() error {
	c.closeOnce.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		var errs []error
		done := make(chan struct{})
		go func() { c.bg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			errs = append(errs, errors.New("background components did not stop within 30s"))
		}
		for i := len(c.closers) - 1; i >= 0; i-- {
			if err := c.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		for _, f := range c.logFiles {
			_ = f.Close()
		}
		if c.tmpData != "" {
			if err := os.RemoveAll(c.tmpData); err != nil {
				errs = append(errs, fmt.Errorf("remove data dir: %w", err))
			}
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

var _ io.Closer = (*Cloud)(nil)
