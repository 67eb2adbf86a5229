package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// eventTime decodes Fluentd's EventTime (ext 0) for the aggregator below.
type eventTime struct{ sec, nsec uint32 }

func (t *eventTime) MarshalMsgpack() ([]byte, error) {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, t.sec)
	binary.BigEndian.PutUint32(b[4:], t.nsec)
	return b, nil
}

func (t *eventTime) UnmarshalMsgpack(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("event time of %d bytes", len(b))
	}
	t.sec, t.nsec = binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	return nil
}

func init() { msgpack.RegisterExt(0, (*eventTime)(nil)) }

// aggregator is a minimal forward-protocol server (PackedForward and
// CompressedPackedForward are not needed here: the forwarder sends
// PackedForward by default) keeping, per chunk id, the lines it received,
// and acking each message.
type aggregator struct {
	ln     net.Listener
	conns  map[net.Conn]bool
	mu     sync.Mutex
	chunks map[string][][]string // chunk id -> the lines of each delivery
	lines  map[string]int
	errs   []error
	wg     sync.WaitGroup
}

func startAggregator(tb testing.TB) *aggregator {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	a := &aggregator{ln: ln, conns: map[net.Conn]bool{}, chunks: map[string][][]string{}, lines: map[string]int{}}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.conns[c] = true
			a.mu.Unlock()
			a.wg.Add(1)
			go func() { defer a.wg.Done(); defer c.Close(); a.serve(c) }()
		}
	}()
	tb.Cleanup(func() {
		a.kill()
		for _, err := range a.errs {
			tb.Errorf("aggregator: %v", err)
		}
	})
	return a
}

// kill closes the listener and every connection at once, as a crashed
// aggregator would.
func (a *aggregator) kill() {
	a.ln.Close()
	a.mu.Lock()
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

func (a *aggregator) port() int { return a.ln.Addr().(*net.TCPAddr).Port }

func (a *aggregator) serve(c net.Conn) {
	d := msgpack.NewDecoder(c)
	for {
		var msg []any
		if err := d.Decode(&msg); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				var ne *net.OpError
				if !errors.As(err, &ne) { // a killed forwarder resets the connection
					a.fail(fmt.Errorf("decode message: %w", err))
				}
			}
			return
		}
		if len(msg) != 3 {
			a.fail(fmt.Errorf("message of %d elements", len(msg)))
			return
		}
		entries, _ := msg[1].([]byte)
		opt, _ := msg[2].(map[string]any)
		chunk, _ := opt["chunk"].(string)
		var lines []string
		ed := msgpack.NewDecoder(bytes.NewReader(entries))
		for {
			var e []any
			if err := ed.Decode(&e); errors.Is(err, io.EOF) {
				break
			} else if err != nil || len(e) != 2 {
				a.fail(fmt.Errorf("entry %v: %v", e, err))
				return
			}
			if _, ok := e[0].(*eventTime); !ok {
				a.fail(fmt.Errorf("entry time %T is not EventTime", e[0]))
			}
			rec, _ := e[1].(map[string]any)
			m, _ := rec["message"].(string)
			lines = append(lines, m)
		}
		a.mu.Lock()
		a.chunks[chunk] = append(a.chunks[chunk], lines)
		for _, l := range lines {
			a.lines[l]++
		}
		a.mu.Unlock()
		ack, _ := msgpack.Marshal(map[string]string{"ack": chunk})
		if _, err := c.Write(ack); err != nil {
			return // the forwarder was killed before the ack: it will resend
		}
	}
}

func (a *aggregator) fail(err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
}

// TestKill9Forward is TestKill9 with the tail routed to a forward output:
// after SIGKILLs at random points - and, in the second case, with the
// active aggregator killed mid-stream so that the standby takes over - the
// aggregators hold every line between them; a line held twice is only ever
// part of a chunk delivered twice whole (same chunk id, same lines: a
// resend after a lost ack), never a partial copy.
func TestKill9Forward(t *testing.T) {
	for _, tc := range []struct {
		name       string
		killActive bool
	}{
		{"forwarder killed", false},
		{"forwarder and active aggregator killed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			active, standby := startAggregator(t), startAggregator(t)
			r := newRigWith(t, fmt.Sprintf(`
outputs:
  - name: agg
    type: forward
    forward:
      servers:
        - {host: 127.0.0.1, port: %d}
        - {host: 127.0.0.1, port: %d, standby: true}
      heartbeat_type: tcp
      heartbeat_interval: 50ms
      recover_wait: 1h
      min_backoff: 10ms
      max_backoff: 100ms
routes:
  - match: "td.db1.*"
    output: agg
`, active.port(), standby.port()))
			aggs := []*aggregator{active, standby}
			distinct := func() int {
				seen := map[string]bool{}
				for _, a := range aggs {
					a.mu.Lock()
					for l := range a.lines {
						seen[l] = true
					}
					a.mu.Unlock()
				}
				return len(seen)
			}
			r.progress = distinct
			// The active aggregator dies mid-stream, whether or not the
			// forwarder is running at that moment.
			killed, stop := make(chan int, 1), make(chan struct{})
			if tc.killActive {
				go func() {
					for active.total() < 2500 {
						select {
						case <-stop:
							killed <- -1
							return
						case <-time.After(2 * time.Millisecond): // polling a condition
						}
					}
					onStandby := standby.total()
					active.kill()
					killed <- onStandby
				}()
			}
			kill9Runs(t, r, 12, func() bool { return distinct() >= r.written })
			close(stop)
			if tc.killActive {
				switch n := <-killed; {
				case n < 0:
					t.Fatal("the active aggregator never reached 2500 lines")
				case n > 0:
					t.Fatalf("the standby got %d lines while the active aggregator was up", n)
				}
				if standby.total() == 0 {
					t.Fatal("the standby got nothing after the active aggregator was killed")
				}
			}
			checkResends(t, r, aggs)
		})
	}
}

// checkResends checks that the aggregators hold every line written, and
// duplicates only as whole chunks delivered again under the same id.
func checkResends(t *testing.T, r *rig, aggs []*aggregator) {
	t.Helper()
	chunks := map[string][][]string{}
	lines := map[string]int{}
	for _, a := range aggs {
		a.mu.Lock()
		for id, ds := range a.chunks {
			chunks[id] = append(chunks[id], ds...)
		}
		for l, n := range a.lines {
			lines[l] += n
		}
		a.mu.Unlock()
	}
	missing := 0
	for i := 0; i < r.written; i++ {
		if lines[r.line(i)] == 0 {
			missing++
		}
	}
	resent, resentLines := 0, 0
	for id, deliveries := range chunks {
		if id == "" {
			t.Errorf("a message without a chunk id (require_ack_response is the default)")
		}
		for _, d := range deliveries[1:] {
			if fmt.Sprint(d) != fmt.Sprint(deliveries[0]) {
				t.Errorf("chunk %s delivered twice with different lines", id)
			}
			resent++
			resentLines += len(d)
		}
	}
	dups := 0
	for _, n := range lines {
		dups += n - 1
	}
	t.Logf("%d lines written, %d chunks resent whole (%d lines), %d duplicate lines", r.written, resent, resentLines, dups)
	if missing != 0 || len(lines) != r.written {
		t.Fatalf("%d lines written: %d missing, %d distinct received", r.written, missing, len(lines))
	}
	if dups != resentLines {
		t.Fatalf("%d duplicate lines but resent chunks explain %d: duplicates outside whole-chunk resends", dups, resentLines)
	}
}

// total is the number of lines a received, duplicates included.
func (a *aggregator) total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.lines {
		n += c
	}
	return n
}
