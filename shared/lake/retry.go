package lake

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/apache/iceberg-go/table"
)

// ErrConflict is wrapped by the error of a call that gave up after
// Config.MaxAttempts commit conflicts. Calling again is safe.
var ErrConflict = errors.New("lake: too many commit conflicts")

// isConflict reports whether a commit failed because the table changed
// after it was loaded: iceberg-go's ErrCommitFailed (Glue's
// ConcurrentModificationException) and ErrCommitDiverged, and the
// requirement failures ("requirement failed: branch "main" has changed",
// "... was created concurrently", "... schema id has changed") that
// iceberg-go returns unwrapped when the catalog's current metadata no
// longer matches what the transaction was built on.
func isConflict(err error) bool {
	if errors.Is(err, table.ErrCommitFailed) || errors.Is(err, table.ErrCommitDiverged) {
		return true
	}
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "requirement failed")
}

// backoff waits before attempt n+1 (n >= 1): full jitter over
// 10ms * 2^(n-1), at most 1s. It returns early when ctx ends.
func backoff(ctx context.Context, n int) error {
	ceiling := 10 * time.Millisecond << min(n-1, 7)
	ceiling = min(ceiling, time.Second)
	t := time.NewTimer(rand.N(ceiling) + time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
