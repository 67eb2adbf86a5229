package convert

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"

	"github.com/spillwayhq/spillway/forwarder/agent"
	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/forwarder/input/forwardin"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// haAggregator is an aggregator for TestHAForwarderRuns: the forwarder's
// own forward input over a counting intake, killable.
type haAggregator struct {
	srv  *forwardin.Server
	port int
	done chan error
	once sync.Once
	mu   sync.Mutex
	recs map[string]int // records per tag
}

func (g *haAggregator) Append(_ context.Context, tag string, records []byte, count int) error {
	if _, err := tdrecord.Decode(records, tdrecord.DefaultLimits()); err != nil {
		return err
	}
	g.mu.Lock()
	g.recs[tag] += count
	g.mu.Unlock()
	return nil
}

func (g *haAggregator) count(tag string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.recs[tag]
}

// kill stops the aggregator at once (connections closed); idempotent.
func (g *haAggregator) kill() {
	g.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = g.srv.Shutdown(ctx)
		<-g.done
	})
}

func startHAAggregator(tb testing.TB) *haAggregator {
	tb.Helper()
	g := &haAggregator{recs: map[string]int{}, done: make(chan error, 1)}
	var err error
	if g.srv, err = forwardin.New(forwardin.DefaultConfig(), g, nil); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g.port = ln.Addr().(*net.TCPAddr).Port
	go func() { g.done <- g.srv.Serve(ln) }()
	tb.Cleanup(g.kill)
	return g
}

// TestHAForwarderRuns runs the conversion of TD's / Fluentd's HA log
// forwarder (<match td.*.*> type forward, an active and a standby
// <server>, buffer_type file, flush_interval 60s) with its two servers
// pointed at two aggregators: events reach the active one only; once it
// is killed, the standby takes over.
func TestHAForwarderRuns(t *testing.T) {
	conf, err := os.ReadFile("testdata/fluentd_ha_forwarder_v012.conf")
	if err != nil {
		t.Fatal(err)
	}
	root, err := Parse(conf)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(root, "ha.conf")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(res.YAML), "addr: 0.0.0.0:24224", `addr: "127.0.0.1:0"`, 1)
	y += "state_dir: " + t.TempDir() + "\nmonitor: {disabled: true}\n"
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	active, standby := startHAAggregator(t), startHAAggregator(t)
	f := cfg.Output.Forward
	if len(f.Servers) != 2 || f.Servers[0].Host != "192.168.0.1" || f.Servers[1].Host != "192.168.0.2" || !f.Servers[1].Standby {
		t.Fatalf("converted servers %+v", f.Servers)
	}
	f.Servers[0].Host, f.Servers[0].Port = "127.0.0.1", active.port
	f.Servers[1].Host, f.Servers[1].Port = "127.0.0.1", standby.port
	f.HeartbeatInterval = 20 * time.Millisecond // the test's pace; the rest as converted
	a, err := agent.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	_, fwdAddr, _ := a.Addrs()
	_, p, _ := net.SplitHostPort(fwdAddr)
	port, _ := strconv.Atoi(p)
	l, err := fluent.New(fluent.Config{FluentHost: "127.0.0.1", FluentPort: port, RequestAck: true, Timeout: 5 * time.Second, MaxRetry: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	send := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			if err := l.PostWithTime("td.web.access", time.Unix(1700000000+int64(i), 0), map[string]any{"i": i}); err != nil {
				t.Fatal(err)
			}
		}
		a.SealNow() // flush_interval is 60s, as converted
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
		}
	}
	send(0, 50)
	wait("50 records at the active aggregator", func() bool { return active.count("td.web.access") == 50 })
	if n := standby.count("td.web.access"); n != 0 {
		t.Fatalf("the standby got %d records while the active aggregator was up", n)
	}
	active.kill()
	send(50, 50)
	wait("50 more records at the standby", func() bool { return standby.count("td.web.access") == 50 })
}
