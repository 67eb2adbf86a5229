package edge

import (
	"sync"
	"time"
)

// windows counts usage per key in one-second windows of an injected clock:
// the rate limits AWS states per second (S3 requests per prefix, Kinesis
// records and bytes per shard). Each window has two counters (requests or
// records, and bytes).
type windows struct {
	mu   sync.Mutex
	used map[string]*window
}

type window struct {
	second int64
	a, b   int64
}

// maxWindows bounds the map; stale windows are dropped when it is reached.
const maxWindows = 1 << 16

// take adds a and b to key's window at now when both totals stay within
// limitA and limitB, and reports whether it did (nothing is taken when it
// did not).
func (w *windows) take(key string, now time.Time, a, limitA, b, limitB int64) bool {
	sec := now.Unix()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.used == nil {
		w.used = map[string]*window{}
	}
	cur := w.used[key]
	if cur == nil || cur.second != sec {
		if cur == nil && len(w.used) >= maxWindows {
			for k, v := range w.used {
				if v.second != sec {
					delete(w.used, k)
				}
			}
		}
		cur = &window{second: sec}
		w.used[key] = cur
	}
	if cur.a+a > limitA || cur.b+b > limitB {
		return false
	}
	cur.a += a
	cur.b += b
	return true
}

func (w *windows) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.used = nil
}
