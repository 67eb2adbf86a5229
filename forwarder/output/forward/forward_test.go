package forward

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/input/forwardin"
)

const tag = "td.web.access"

// TestToForwardin ships chunks to the forwarder's own forward input (a
// real server): every record arrives once, with its time, and the buffer
// is empty after the acks.
func TestToForwardin(t *testing.T) {
	cert, key := selfSigned(t)
	for _, tc := range []struct {
		name   string
		codec  buffer.Codec
		cfg    func(*Config)
		server func(*forwardin.Config)
	}{
		{"packed ack zstd chunks", buffer.Zstd, nil, nil},
		{"compressed gzip chunks", buffer.Gzip, func(c *Config) { c.Compress = CompressGzip }, nil},
		{"no ack", buffer.Zstd, func(c *Config) { c.RequireAckResponse = ptr(false) }, nil},
		{"integer time, time key kept", buffer.Zstd, func(c *Config) { c.TimeAsInteger, c.KeepTimeKey = true, true }, nil},
		{"shared key", buffer.Zstd, func(c *Config) { c.SharedKey = "s3cret" }, func(s *forwardin.Config) { s.SharedKey = "s3cret" }},
		{"shared key and user", buffer.Zstd, func(c *Config) { c.SharedKey, c.Username, c.Password = "s3cret", "alice", "pw" },
			func(s *forwardin.Config) {
				s.SharedKey, s.Users = "s3cret", []forwardin.User{{Username: "alice", Password: "pw"}}
			}},
		{"tls with ca file", buffer.Zstd, func(c *Config) { c.TLS = &TLSConfig{CAFile: cert} },
			func(s *forwardin.Config) { s.TLS = &forwardin.TLSConfig{CertFile: cert, KeyFile: key} }},
		{"tls insecure, shared key", buffer.Zstd, func(c *Config) { c.TLS, c.SharedKey = &TLSConfig{InsecureSkipVerify: true}, "k" },
			func(s *forwardin.Config) {
				s.TLS, s.SharedKey = &forwardin.TLSConfig{CertFile: cert, KeyFile: key}, "k"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startForwardin(t, tc.server)
			b := openBuffer(t, tc.codec)
			fill(t, b, tag, 0, 250, 100)
			cfg := Config{Servers: []Server{serverAt(t, srv.addr)}, HeartbeatType: HeartbeatNone}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			o := newOutput(t, cfg, b)
			shipAll(t, o)
			if sealed, _ := b.Pending(); sealed != 0 {
				t.Errorf("%d chunks left in the buffer", sealed)
			}
			waitFor(t, "250 records", func() bool { return srv.col.len() >= 250 })
			wantSeqs(t, srv.col.seqs(), 0, 250)
			srv.col.mu.Lock()
			for i, m := range srv.col.recs {
				if got, want := m["time"], int64(baseTime+seqOf(m)); toInt(got) != want {
					t.Errorf("record %d: time %v, want %d", i, got, want)
				}
				if srv.col.tags[i] != tag {
					t.Errorf("tag %q, want %q", srv.col.tags[i], tag)
				}
			}
			srv.col.mu.Unlock()
			st := o.Stats()
			if st.Chunks != 3 || st.Records != 250 {
				t.Errorf("stats %+v, want 3 chunks, 250 records", st)
			}
			if ss := o.Servers(); ss[0].Chunks != 3 || ss[0].Records != 250 || !ss[0].Available {
				t.Errorf("server stats %+v", ss[0])
			}
		})
	}
}

func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case uint64:
		return int64(n)
	case uint32:
		return int64(n)
	case int32:
		return int64(n)
	}
	return -1
}

// TestToReference ships to the independent reference server and checks
// the wire: PackedForward or CompressedPackedForward, EventTime entries
// without the "time" key, size and chunk options, one message per chunk.
func TestToReference(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      func(*Config)
		ref      func(*refServer)
		evTime   bool
		compress string
		timeKey  bool
	}{
		{"packed", nil, nil, true, "", false},
		{"compressed", func(c *Config) { c.Compress = CompressGzip }, nil, true, "gzip", false},
		{"integer time", func(c *Config) { c.TimeAsInteger = true }, nil, false, "", false},
		{"keep time key", func(c *Config) { c.KeepTimeKey = true }, nil, true, "", true},
		{"shared key", func(c *Config) { c.SharedKey = "k2" }, func(r *refServer) { r.sharedKey = "k2" }, true, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := startRef(t, tc.ref)
			b := openBuffer(t, buffer.Zstd)
			fill(t, b, tag, 0, 30, 10)
			cfg := Config{Servers: []Server{serverAt(t, ref.addr())}, HeartbeatType: HeartbeatNone}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			o := newOutput(t, cfg, b)
			shipAll(t, o)
			evs, msgs := ref.got()
			if len(msgs) != 3 {
				t.Fatalf("%d messages, want 3 (one per chunk)", len(msgs))
			}
			for _, m := range msgs {
				if m.Size != 10 || m.Events != 10 || m.Chunk == "" || m.Compressed != tc.compress {
					t.Errorf("message options %+v, want size 10, a chunk id, compressed %q", m, tc.compress)
				}
			}
			seen := map[int]int{}
			for _, ev := range evs {
				seq := seqOf(ev.Record)
				seen[seq]++
				if ev.Tag != tag || ev.EventTime != tc.evTime || ev.Sec != uint32(baseTime+seq) || ev.Nsec != 0 {
					t.Errorf("event %+v: want tag %s, EventTime %v, time %d", ev, tag, tc.evTime, baseTime+seq)
				}
				if _, has := ev.Record["time"]; has != tc.timeKey {
					t.Errorf("record %v: time key present %v, want %v", ev.Record, has, tc.timeKey)
				}
				if ev.Record["msg"] != "line "+strconv.Itoa(seq) {
					t.Errorf("record %v: msg changed", ev.Record)
				}
			}
			wantSeqs(t, seen, 0, 30)
		})
	}
}

// TestLostAck: the server reads a chunk and dies before its ack. The chunk
// stays in the buffer and is sent again: the receiver has its records
// twice (forward servers deduplicate nothing), never zero times.
func TestLostAck(t *testing.T) {
	ref := startRef(t, func(r *refServer) { r.noAck = 1 })
	b := openBuffer(t, buffer.Zstd)
	fill(t, b, tag, 0, 10, 10)
	o := newOutput(t, Config{Servers: []Server{serverAt(t, ref.addr())}, HeartbeatType: HeartbeatNone, RecoverWait: time.Nanosecond, Concurrency: 1}, b)
	err := o.ShipQueued(context.Background())
	if err == nil || !strings.Contains(err.Error(), "before the ack") {
		t.Fatalf("first attempt: %v, want the connection closed before the ack", err)
	}
	if sealed, _ := b.Pending(); sealed != 1 {
		t.Fatalf("%d chunks in the buffer after a lost ack, want 1", sealed)
	}
	shipAll(t, o)
	if sealed, _ := b.Pending(); sealed != 0 {
		t.Fatalf("%d chunks in the buffer after the resend, want 0", sealed)
	}
	evs, _ := ref.got()
	seen := map[int]int{}
	for _, ev := range evs {
		seen[seqOf(ev.Record)]++
	}
	wantSeqs(t, seen, 0, 10) // the reference server drops what it did not ack
	if st := o.Stats(); st.Failures != 1 || st.Chunks != 1 {
		t.Errorf("stats %+v, want 1 failure, 1 chunk", st)
	}
}

// TestAckTimeout: a server that never acks keeps the chunk in the buffer
// and is marked unavailable.
func TestAckTimeout(t *testing.T) {
	hold := startSilent(t)
	b := openBuffer(t, buffer.Zstd)
	fill(t, b, tag, 0, 5, 5)
	o := newOutput(t, Config{Servers: []Server{serverAt(t, hold)}, HeartbeatType: HeartbeatNone, AckResponseTimeout: 50 * time.Millisecond, Concurrency: 1}, b)
	err := o.ShipQueued(context.Background())
	if !errors.Is(err, errAckTimeout) {
		t.Fatalf("got %v, want an ack timeout", err)
	}
	if sealed, _ := b.Pending(); sealed != 1 {
		t.Errorf("%d chunks in the buffer, want 1", sealed)
	}
	ss := o.Servers()[0]
	if ss.AckTimeouts != 1 || ss.Failures != 1 || ss.Available {
		t.Errorf("server stats %+v, want 1 ack timeout, unavailable", ss)
	}
}

// TestRefused: a server that does not accept the output (another shared
// key, another user, a certificate the CA file does not vouch for, TLS
// against plain TCP) gets nothing; the chunk stays in the buffer and the
// server is marked down.
func TestRefused(t *testing.T) {
	cert, key := selfSigned(t)
	other, _ := selfSigned(t)
	for _, tc := range []struct {
		name    string
		cfg     func(*Config)
		server  func(*forwardin.Config)
		wantErr string
	}{
		{"shared key mismatch", func(c *Config) { c.SharedKey = "wrong" }, func(s *forwardin.Config) { s.SharedKey = "right" }, "shared_key mismatch"},
		{"unknown user", func(c *Config) { c.SharedKey, c.Username, c.Password = "k", "bob", "pw" },
			func(s *forwardin.Config) {
				s.SharedKey, s.Users = "k", []forwardin.User{{Username: "alice", Password: "pw"}}
			}, "username/password mismatch"},
		{"no shared key configured", nil, func(s *forwardin.Config) { s.SharedKey = "k" }, "needs shared_key"},
		{"certificate from another CA", func(c *Config) { c.TLS = &TLSConfig{CAFile: other} },
			func(s *forwardin.Config) { s.TLS = &forwardin.TLSConfig{CertFile: cert, KeyFile: key} }, "certificate"},
		{"tls to a plain server", func(c *Config) { c.TLS = &TLSConfig{InsecureSkipVerify: true} }, nil, "tls handshake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startForwardin(t, tc.server)
			b := openBuffer(t, buffer.Zstd)
			fill(t, b, tag, 0, 10, 10)
			cfg := Config{Servers: []Server{serverAt(t, srv.addr)}, HeartbeatType: HeartbeatNone, Concurrency: 1, ConnectTimeout: 5 * time.Second}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			o := newOutput(t, cfg, b)
			err := o.ShipQueued(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error saying %q", err, tc.wantErr)
			}
			if sealed, _ := b.Pending(); sealed != 1 {
				t.Errorf("%d chunks in the buffer, want 1", sealed)
			}
			if n := srv.col.len(); n != 0 {
				t.Errorf("the server stored %d records", n)
			}
			if ss := o.Servers()[0]; ss.Available || ss.Failures != 1 {
				t.Errorf("server stats %+v, want marked down after 1 failure", ss)
			}
		})
	}
}
