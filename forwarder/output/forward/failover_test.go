package forward

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/input/forwardin"
)

// TestStandbyFailover streams chunks to an active forwardin with a standby
// one, kills the active server mid-stream, and checks that the standby
// took nothing before and everything after, and that every record arrived
// (only chunks whose ack was lost at the kill twice).
func TestStandbyFailover(t *testing.T) {
	active, standby := startForwardin(t, nil), startForwardin(t, nil)
	b := openBuffer(t, buffer.Zstd)
	s2 := serverAt(t, standby.addr)
	s2.Standby = true
	o := newOutput(t, Config{Servers: []Server{serverAt(t, active.addr), s2},
		HeartbeatType: HeartbeatTCP, HeartbeatInterval: 20 * time.Millisecond, RecoverWait: time.Hour,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, b)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); o.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	const per, chunks = 20, 40
	fill(t, b, tag, 0, per*chunks/2, per)
	waitFor(t, "the active server to receive records", func() bool { return active.col.len() >= per*4 })
	if n := standby.col.len(); n != 0 {
		t.Fatalf("standby received %d records while the active server was up", n)
	}
	active.kill()
	fill(t, b, tag, per*chunks/2, per*chunks/2, per)
	waitFor(t, "every chunk shipped", func() bool { sealed, _ := b.Pending(); return sealed == 0 })

	got := active.col.seqs()
	for s, n := range standby.col.seqs() {
		got[s] += n
	}
	dups := 0
	for i := 0; i < per*chunks; i++ {
		switch n := got[i]; {
		case n == 0:
			t.Errorf("record %d lost", i)
		case n > 1:
			dups++
		}
	}
	// Only chunks in flight at the kill (concurrency 2) may be resent.
	if dups > 2*per {
		t.Errorf("%d records received twice, more than the %d of the chunks in flight", dups, 2*per)
	}
	if standby.col.len() == 0 {
		t.Error("standby received nothing after the active server died")
	}
	ss := o.Servers()
	if ss[0].Available || !ss[1].Available || ss[0].HeartbeatFailures == 0 {
		t.Errorf("server stats %+v, want the active one down (heartbeats failing), the standby up", ss)
	}
	if !o.Stats().OnStandby {
		t.Error("Stats.OnStandby false after failover")
	}
}

// TestRecoverWait: a failed server takes chunks again only after
// heartbeats answered for recover_wait (or, without heartbeats, after
// recover_wait has passed since its failure).
func TestRecoverWait(t *testing.T) {
	for _, hb := range []string{HeartbeatTCP, HeartbeatNone} {
		t.Run(hb, func(t *testing.T) {
			now := time.Unix(baseTime, 0)
			o := newOutput(t, Config{Servers: []Server{{Host: "127.0.0.1"}}, HeartbeatType: hb, RecoverWait: 10 * time.Second}, nil)
			o.now = func() time.Time { return now }
			s := o.servers[0]
			o.markFailed(s, errors.New("test"))
			steps := []struct {
				advance time.Duration
				hbErr   error
				want    bool
			}{
				{0, nil, false},
				{5 * time.Second, nil, false},
				{4 * time.Second, errors.New("refused"), false}, // heartbeats restart the wait
				{2 * time.Second, nil, hb == HeartbeatNone},     // 11 s after the failure
				{9 * time.Second, nil, hb == HeartbeatNone},
				{time.Second, nil, true}, // 10 s of answered heartbeats
			}
			for i, st := range steps {
				now = now.Add(st.advance)
				if hb != HeartbeatNone {
					o.heartbeatResult(s, st.hbErr)
				}
				if got := o.available(s, now); got != st.want {
					t.Fatalf("step %d: available %v, want %v", i, got, st.want)
				}
			}
		})
	}
}

// TestPick: weights share the chunks among available active servers; a
// weight of 0 takes none; standby servers only when no active one is up;
// nil when none is.
func TestPick(t *testing.T) {
	w := func(n int) *int { return &n }
	o := newOutput(t, Config{Servers: []Server{
		{Host: "a", Weight: w(1)}, {Host: "b", Weight: w(3)}, {Host: "z", Weight: w(0)},
		{Host: "s1", Standby: true}, {Host: "s2", Standby: true},
	}}, nil)
	count := func() map[string]int {
		m := map[string]int{}
		for i := 0; i < 4000; i++ {
			if s := o.pick(); s != nil {
				m[s.cfg.Host]++
			} else {
				m[""]++
			}
		}
		return m
	}
	m := count()
	if m["z"] != 0 || m["s1"]+m["s2"] != 0 || m["a"] == 0 || m["b"] < 2*m["a"] {
		t.Errorf("all up: %v, want a:b about 1:3, none to z or the standbys", m)
	}
	o.markFailed(o.servers[0], errors.New("down"))
	o.markFailed(o.servers[1], errors.New("down"))
	if m := count(); m["s1"] == 0 || m["s2"] == 0 || m["z"] != 0 || m["a"]+m["b"] != 0 {
		t.Errorf("actives down: %v, want the standbys only", m)
	}
	o.markFailed(o.servers[3], errors.New("down"))
	o.markFailed(o.servers[4], errors.New("down"))
	if m := count(); m[""] != 4000 {
		t.Errorf("all down: %v, want no server", m)
	}
}

// TestWeightsShareChunks ships 40 chunks to two active reference servers
// of equal weight: both get some, the sum is every record once.
func TestWeightsShareChunks(t *testing.T) {
	r1, r2 := startRef(t, nil), startRef(t, nil)
	b := openBuffer(t, buffer.Zstd)
	fill(t, b, tag, 0, 400, 10)
	o := newOutput(t, Config{Servers: []Server{serverAt(t, r1.addr()), serverAt(t, r2.addr())}, HeartbeatType: HeartbeatNone}, b)
	shipAll(t, o)
	seen := map[int]int{}
	for _, r := range []*refServer{r1, r2} {
		evs, msgs := r.got()
		if len(msgs) == 0 {
			t.Errorf("server %s got no chunk", r.addr())
		}
		for _, ev := range evs {
			seen[seqOf(ev.Record)]++
		}
	}
	wantSeqs(t, seen, 0, 400)
}

// TestNoServer: with every server down the chunk stays in the buffer
// (which, once full, blocks the inputs) and Ship says so.
func TestNoServer(t *testing.T) {
	dead := startRef(t, nil)
	dead.kill()
	b := openBuffer(t, buffer.Zstd)
	fill(t, b, tag, 0, 10, 10)
	o := newOutput(t, Config{Servers: []Server{serverAt(t, dead.addr())}, HeartbeatType: HeartbeatTCP, Concurrency: 1}, b)
	if err := o.ShipQueued(context.Background()); err == nil {
		t.Fatal("shipping to a dead server succeeded")
	}
	if err := o.ShipQueued(context.Background()); !errors.Is(err, ErrNoServer) {
		t.Fatalf("second attempt: %v, want ErrNoServer", err)
	}
	if sealed, _ := b.Pending(); sealed != 1 {
		t.Errorf("%d chunks in the buffer, want 1", sealed)
	}
	if st := o.Stats(); st.NoServer != 1 || st.Failures != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestDNSReResolution: the server's name is resolved again on every
// connection (the aggregator moved to another address: 127.0.0.1, then
// 127.0.0.2, same port), unless expire_dns_cache keeps the old answer.
func TestDNSReResolution(t *testing.T) {
	for _, tc := range []struct {
		name      string
		expire    time.Duration
		wantMoved bool
	}{
		{"resolved every connection", 0, true},
		{"cached", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := startRef(t, nil)
			port := serverAt(t, first.addr()).Port
			second := startRefAt(t, fmt.Sprintf("127.0.0.2:%d", port), nil)
			b := openBuffer(t, buffer.Zstd)
			o := newOutput(t, Config{Servers: []Server{{Host: "aggregator.test", Port: port}}, HeartbeatType: HeartbeatNone, ExpireDNSCache: tc.expire}, b)
			var mu sync.Mutex
			ip, lookups := "127.0.0.1", 0
			o.lookup = func(_ context.Context, host string) ([]string, error) {
				mu.Lock()
				defer mu.Unlock()
				if host != "aggregator.test" {
					return nil, fmt.Errorf("unknown host %s", host)
				}
				lookups++
				return []string{ip}, nil
			}
			fill(t, b, tag, 0, 10, 10)
			shipAll(t, o)
			mu.Lock()
			ip = "127.0.0.2"
			mu.Unlock()
			fill(t, b, tag, 10, 10, 10)
			shipAll(t, o)
			_, m1 := first.got()
			_, m2 := second.got()
			if tc.wantMoved && (len(m1) != 1 || len(m2) != 1 || lookups != 2) {
				t.Errorf("messages %d, %d after %d lookups: want one to each address, two lookups", len(m1), len(m2), lookups)
			}
			if !tc.wantMoved && (len(m1) != 2 || len(m2) != 0 || lookups != 1) {
				t.Errorf("messages %d, %d after %d lookups: want both to the cached address, one lookup", len(m1), len(m2), lookups)
			}
		})
	}
}

// TestTransportHeartbeat: with a shared key, transport heartbeats run the
// whole handshake, so the server counts no failed handshakes; a server
// with another key fails them and is marked down.
func TestTransportHeartbeat(t *testing.T) {
	good := startForwardin(t, func(c *forwardin.Config) { c.SharedKey = "k" })
	bad := startForwardin(t, func(c *forwardin.Config) { c.SharedKey = "other" })
	o := newOutput(t, Config{Servers: []Server{serverAt(t, good.addr), serverAt(t, bad.addr)}, SharedKey: "k"}, nil)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		for _, s := range o.servers {
			o.heartbeatResult(s, o.heartbeat(ctx, s))
		}
	}
	if st := good.srv.Stats(); st.AuthFailed != 0 || st.Protocol != 0 {
		t.Errorf("server with the key: %+v, want no failed handshakes", st)
	}
	ss := o.Servers()
	if !ss[0].Available || ss[0].HeartbeatFailures != 0 || ss[1].Available || ss[1].HeartbeatFailures != 3 {
		t.Errorf("server stats %+v", ss)
	}
}
