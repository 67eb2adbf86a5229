package agent

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/forwarder/input/forwardin"
	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// aggregator is a forward-protocol aggregator for the tests: the
// forwarder's own forward input over a collecting intake.
type aggregator struct {
	addr string
	mu   sync.Mutex
	tags map[string]int // records per tag
}

func (g *aggregator) Append(_ context.Context, tag string, records []byte, count int) error {
	if _, err := tdrecord.Decode(records, tdrecord.DefaultLimits()); err != nil {
		return err
	}
	g.mu.Lock()
	g.tags[tag] += count
	g.mu.Unlock()
	return nil
}

func (g *aggregator) count(tag string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tags[tag]
}

func startAggregator(tb testing.TB) *aggregator {
	tb.Helper()
	g := &aggregator{tags: map[string]int{}}
	srv, err := forwardin.New(forwardin.DefaultConfig(), g, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return g
}

// TestForwardOutput: one route copies td.web.* to the TD output and to a
// forward output (an aggregator), another sends app.** to the forward
// output only; each output ships its own buffer, the aggregator gets the
// events under the tags they arrived with, and /metrics shows the forward
// server's counters.
func TestForwardOutput(t *testing.T) {
	agg := startAggregator(t)
	recv := tdtest.NewTest(t, tdtest.Config{APIKey: "k", AutoCreate: true})
	a := startAgent(t, `
state_dir: %[1]s
sources:
  forward: {addr: "127.0.0.1:0"}
routes:
  - match: "td.web.*"
    output: [default, aggregators]
  - match: "app.**"
    output: aggregators
buffer: {flush_interval: 1h}
output:
  primary: {url: %[2]q, api_key: k}
outputs:
  - name: aggregators
    type: forward
    forward:
      servers:
        - host: 127.0.0.1
          port: `+fmt.Sprint(portOf(t, agg.addr))+`
          name: agg1
      compress: gzip
monitor: {addr: "127.0.0.1:0"}
`, recv)
	_, fwdAddr, monAddr := a.Addrs()
	l := fluentLogger(t, fwdAddr)
	for i := range 5 {
		for _, tag := range []string{"td.web.access", "app.events"} {
			if err := l.PostWithTime(tag, time.Unix(1700000000+int64(i), 0), map[string]any{"i": i}); err != nil {
				t.Fatalf("post %s: %v", tag, err)
			}
		}
	}
	waitFor(t, "records in both buffers", func() bool {
		return a.outbounds[0].buf.Stats().AppendedRecs == 5 && a.outbounds[1].buf.Stats().AppendedRecs == 10
	})
	a.SealNow()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := recv.WaitCount(ctx, "web", "access", 5); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "records at the aggregator", func() bool {
		return agg.count("td.web.access") == 5 && agg.count("app.events") == 5
	})
	if n := recv.Count("app", "events"); n != 0 {
		t.Errorf("TD output got %d td.app records, routed to the forward output only", n)
	}
	waitFor(t, "forward metrics", func() bool {
		fams := scrape(t, "http://"+monAddr+"/metrics")
		recs, _ := sample(fams, "spillway_forwarder_forward_output_server_records_total", map[string]string{"output": "aggregators", "server": "agg1"})
		up, _ := sample(fams, "spillway_forwarder_forward_output_server_up", map[string]string{"output": "aggregators", "server": "agg1", "role": "active"})
		return recs == 10 && up == 1
	})
}

func portOf(tb testing.TB, addr string) string {
	tb.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
