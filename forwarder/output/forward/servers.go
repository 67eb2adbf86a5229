package forward

// This file keeps each server's health (failures, heartbeats,
// recover_wait) and chooses the server of the next chunk: weighted among
// the available active servers, the standby servers only when no active
// one is available.

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// server is one configured server and its state.
type server struct {
	cfg  Server
	cred credentials

	mu sync.Mutex
	up bool
	// failedAt is when the server last failed (a send or a heartbeat).
	failedAt time.Time
	// healthySince is when heartbeats started to answer again while the
	// server is down; zero when they do not.
	healthySince time.Time
	dnsAddr      string
	dnsAt        time.Time

	chunks, records, bytes, failures, ackTimeouts, hbFailures atomic.Uint64
}

// ServerStats are one server's counters and state.
type ServerStats struct {
	Name      string // name or host:port
	Standby   bool
	Available bool   // takes chunks now
	Chunks    uint64 // chunks delivered (acked, or written without acks)
	Records   uint64
	Bytes     uint64 // message bytes delivered
	Failures  uint64 // failed sends (connect, handshake, write, ack)
	// AckTimeouts are sends whose ack did not come within
	// ack_response_timeout (counted in Failures too).
	AckTimeouts       uint64
	HeartbeatFailures uint64
}

// available reports whether s takes chunks at now. With heartbeats a
// failed server is available again once heartbeats have answered for
// recover_wait; without, once recover_wait has passed since its failure.
func (o *Output) available(s *server, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.up {
		return true
	}
	if o.cfg.HeartbeatType == HeartbeatNone && now.Sub(s.failedAt) >= o.cfg.RecoverWait {
		s.up = true
		return true
	}
	return false
}

// markFailed makes s unavailable.
func (o *Output) markFailed(s *server, err error) {
	s.mu.Lock()
	was := s.up
	s.up, s.failedAt, s.healthySince = false, o.now(), time.Time{}
	s.mu.Unlock()
	if was {
		o.log.Warn("forward server unavailable", "server", s.cfg.label(), "standby", s.cfg.Standby, "error", err)
	}
}

// markOK makes s available (a delivery succeeded).
func (o *Output) markOK(s *server) {
	s.mu.Lock()
	was := s.up
	s.up, s.healthySince = true, time.Time{}
	s.mu.Unlock()
	if !was {
		o.log.Info("forward server available again", "server", s.cfg.label())
	}
}

// heartbeatResult records a heartbeat's outcome.
func (o *Output) heartbeatResult(s *server, err error) {
	now := o.now()
	if err != nil {
		s.hbFailures.Add(1)
		s.mu.Lock()
		up := s.up
		s.healthySince = time.Time{}
		s.mu.Unlock()
		if up {
			o.markFailed(s, err)
		}
		return
	}
	s.mu.Lock()
	recovered := false
	if !s.up {
		if s.healthySince.IsZero() {
			s.healthySince = now
		}
		if now.Sub(s.healthySince) >= o.cfg.RecoverWait {
			s.up, s.healthySince, recovered = true, time.Time{}, true
		}
	}
	s.mu.Unlock()
	if recovered {
		o.log.Info("forward server available again (heartbeats answered for recover_wait)", "server", s.cfg.label(), "recover_wait", o.cfg.RecoverWait)
	}
}

// heartbeat checks s once: a connection closed at once, TCP only (tcp) or
// with TLS and the shared_key handshake when configured (transport).
func (o *Output) heartbeat(ctx context.Context, s *server) error {
	if o.cfg.HeartbeatType == HeartbeatTCP {
		ctx, cancel := context.WithTimeout(ctx, o.cfg.ConnectTimeout)
		defer cancel()
		c, err := o.dialTCP(ctx, s)
		if err == nil {
			c.Close()
		}
		return err
	}
	// Transport: as a send connects, handshakes included, so that a
	// server with a shared key sees a complete handshake, not a client
	// leaving in the middle of one.
	c, _, err := o.connect(ctx, s, true)
	if err == nil {
		c.Close()
	}
	return err
}

// heartbeats runs s's heartbeat every heartbeat_interval until ctx ends.
func (o *Output) heartbeats(ctx context.Context, s *server) {
	t := time.NewTicker(o.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := o.heartbeat(ctx, s)
		if ctx.Err() != nil {
			return
		}
		o.heartbeatResult(s, err)
	}
}

// pick chooses the server of the next chunk: weighted at random among the
// available active servers, else among the available standby servers;
// nil when none is available.
func (o *Output) pick() *server {
	now := o.now()
	for _, standby := range []bool{false, true} {
		var avail []*server
		total := 0
		for _, s := range o.servers {
			if s.cfg.Standby == standby && o.available(s, now) {
				avail = append(avail, s)
				total += s.cfg.weight()
			}
		}
		if total == 0 {
			continue
		}
		n := rand.IntN(total)
		for _, s := range avail {
			if n -= s.cfg.weight(); n < 0 {
				return s
			}
		}
	}
	return nil
}

func (s *server) stats(avail bool) ServerStats {
	return ServerStats{Name: s.cfg.label(), Standby: s.cfg.Standby, Available: avail,
		Chunks: s.chunks.Load(), Records: s.records.Load(), Bytes: s.bytes.Load(), Failures: s.failures.Load(),
		AckTimeouts: s.ackTimeouts.Load(), HeartbeatFailures: s.hbFailures.Load()}
}
