package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"
)

// health is the /healthz answer.
type health struct {
	Status string `json:"status"`           // ready, starting, degraded, unavailable
	Reason string `json:"reason,omitempty"` // why not ready
}

// healthz answers 200 {"status":"ready"} when the inputs are serving and
// the buffer is writable; 503 with the reason otherwise, and 503
// "degraded" when chunks have been queued and nothing shipped for
// monitor.degraded_after.
func (a *Agent) healthz(w http.ResponseWriter, _ *http.Request) {
	h := a.health(time.Now())
	w.Header().Set("Content-Type", "application/json")
	if h.Status != "ready" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(h)
}

func (a *Agent) health(now time.Time) health {
	if !a.serving.Load() {
		return health{"starting", "inputs are not serving yet (or are stopping)"}
	}
	if err := a.bufferWritable(); err != nil {
		return health{"unavailable", err.Error()}
	}
	if since := a.queuedSince.Load(); since != 0 && a.cfg.Monitor.DegradedAfter > 0 {
		from := time.Unix(0, since)
		if last := a.out.Stats().LastSuccess; last.After(from) {
			from = last
		}
		if stalled := now.Sub(from); stalled > a.cfg.Monitor.DegradedAfter {
			sealed, _ := a.buf.Pending()
			return health{"degraded", fmt.Sprintf("nothing shipped for %s while %d chunks are queued (monitor.degraded_after %s)",
				stalled.Truncate(time.Second), sealed, a.cfg.Monitor.DegradedAfter)}
		}
	}
	return health{Status: "ready"}
}

// bufferWritable reports why the buffer cannot take records: full (with
// overflow: block) or its directory not writable.
func (a *Agent) bufferWritable() error {
	if bs := a.buf.Stats(); a.cfg.Buffer.Overflow == "block" && bs.Bytes >= a.cfg.Buffer.TotalLimit {
		return fmt.Errorf("buffer full: %d of %d bytes (buffer.total_limit)", bs.Bytes, a.cfg.Buffer.TotalLimit)
	}
	f, err := os.CreateTemp(a.cfg.Buffer.Dir, ".healthz-*")
	if err != nil {
		return fmt.Errorf("buffer directory not writable: %w", err)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return fmt.Errorf("buffer directory not writable: %w", err)
	}
	return nil
}

// watchQueue keeps queuedSince: when sealed chunks started waiting (0
// while none wait), so /healthz can tell a stalled output from an idle one.
func (a *Agent) watchQueue(ctx context.Context) {
	every := time.Second
	if d := a.cfg.Monitor.DegradedAfter / 4; d > 0 && d < every {
		every = d
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if sealed, _ := a.buf.Pending(); sealed == 0 {
			a.queuedSince.Store(0)
		} else if a.queuedSince.Load() == 0 {
			a.queuedSince.Store(time.Now().UnixNano())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
