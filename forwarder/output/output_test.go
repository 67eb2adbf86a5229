package output

import (
	"bytes"
	"context"
	"encoding/pem"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/shared/resend"
)

func newBuffer(tb testing.TB) *buffer.Buffer {
	tb.Helper()
	cfg := buffer.DefaultConfig()
	cfg.Dir = tb.TempDir()
	b, err := buffer.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// fill appends n one-record chunks to tag and seals them.
func fill(tb testing.TB, b *buffer.Buffer, tag string, n int) {
	tb.Helper()
	for i := 0; i < n; i++ {
		rec, _ := msgpack.Marshal(map[string]any{"time": int64(1700000000), "i": int64(i)})
		if err := b.Append(context.Background(), tag, rec, 1); err != nil {
			tb.Fatal(err)
		}
		b.SealAll()
	}
}

// receiver is a count-only TD endpoint double that takes key and creates
// tables on import; fail, when set, is its Config.Fail.
func receiver(tb testing.TB, key string, fail func(db, table, uniqueID string) int) *tdtest.Server {
	tb.Helper()
	return tdtest.NewTest(tb, tdtest.Config{APIKey: key, AutoCreate: true, CountOnly: true, Fail: fail})
}

func server(tb testing.TB, rv *tdtest.Server) *httptest.Server {
	tb.Helper()
	s := httptest.NewServer(rv)
	tb.Cleanup(s.Close)
	return s
}

func testConfig(primary string) Config {
	c := DefaultConfig()
	c.Primary = Endpoint{URL: primary, APIKey: "k1"}
	c.MinBackoff = time.Millisecond
	c.MaxBackoff = 5 * time.Millisecond
	c.ClientAttempts = 1
	return c
}

func TestShipAndFailover(t *testing.T) {
	tests := []struct {
		name          string
		primaryStatus int // 0 = healthy
		standby       bool
		wantPrimary   int
		wantStandby   int
		wantOnStandby bool
	}{
		{"healthy primary", 0, true, 5, 0, false},
		{"primary down, standby used", 503, true, 0, 5, true},
		{"primary down, no standby", 503, false, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fail func(string, string, string) int
			if tt.primaryStatus != 0 {
				fail = func(string, string, string) int { return tt.primaryStatus }
			}
			p := receiver(t, "k1", fail)
			s := receiver(t, "k2", nil)
			ps, ss := server(t, p), server(t, s)
			cfg := testConfig(ps.URL)
			if tt.standby {
				cfg.Standby = &Endpoint{URL: ss.URL, APIKey: "k2"}
			}
			b := newBuffer(t)
			fill(t, b, "td.db1.tbl", 5)
			o, err := New(cfg, b)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i := 0; i < 20; i++ {
				_ = o.ShipQueued(ctx)
			}
			if p.Count("db1", "tbl") != tt.wantPrimary || s.Count("db1", "tbl") != tt.wantStandby {
				t.Fatalf("primary got %d, standby %d; want %d, %d", p.Count("db1", "tbl"), s.Count("db1", "tbl"), tt.wantPrimary, tt.wantStandby)
			}
			if st := o.Stats(); st.OnStandby != tt.wantOnStandby {
				t.Fatalf("stats %+v", st)
			}
			if sealed, _ := b.Pending(); sealed != 5-tt.wantPrimary-tt.wantStandby {
				t.Fatalf("%d chunks left in the buffer", sealed)
			}
		})
	}
}

func TestPrimaryRetriedAfterInterval(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	p := receiver(t, "k", func(string, string, string) int {
		if down.Load() {
			return 502
		}
		return 0
	})
	s := receiver(t, "k", nil)
	cfg := testConfig(server(t, p).URL)
	cfg.Primary.APIKey = "k"
	cfg.Standby = &Endpoint{URL: server(t, s).URL, APIKey: "k"}
	cfg.FailoverAfter = 2
	cfg.PrimaryRetryInterval = time.Minute
	b := newBuffer(t)
	o, err := New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	o.now = func() time.Time { return now }
	ctx := context.Background()
	fill(t, b, "td.db1.tbl", 1)
	for i := 0; i < 3; i++ {
		_ = o.ShipQueued(ctx)
	}
	if s.Count("db1", "tbl") != 1 || !o.Stats().OnStandby {
		t.Fatalf("standby has %d, stats %+v", s.Count("db1", "tbl"), o.Stats())
	}
	down.Store(false)
	fill(t, b, "td.db1.tbl", 1)
	_ = o.ShipQueued(ctx)
	if s.Count("db1", "tbl") != 2 || p.Count("db1", "tbl") != 0 {
		t.Fatalf("before the interval: primary %d standby %d", p.Count("db1", "tbl"), s.Count("db1", "tbl"))
	}
	now = now.Add(time.Minute)
	fill(t, b, "td.db1.tbl", 1)
	if err := o.ShipQueued(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Count("db1", "tbl") != 1 || o.Stats().OnStandby {
		t.Fatalf("after the interval: primary %d, stats %+v", p.Count("db1", "tbl"), o.Stats())
	}
}

func TestPermanentRefusalParks(t *testing.T) {
	tests := []struct {
		status   int
		wantPark bool
	}{{400, true}, {413, true}, {415, true}, {422, true}, {401, false}, {403, false}, {404, false}, {408, false}, {429, false}, {500, false}}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			rv := receiver(t, "k1", func(string, string, string) int { return tt.status })
			b := newBuffer(t)
			fill(t, b, "td.db1.tbl", 1)
			o, err := New(testConfig(server(t, rv).URL), b)
			if err != nil {
				t.Fatal(err)
			}
			err = o.ShipQueued(context.Background())
			sealed, _ := b.Pending()
			if tt.wantPark {
				if err != nil || sealed != 0 || o.Stats().Parked != 1 {
					t.Fatalf("err %v, %d left, stats %+v", err, sealed, o.Stats())
				}
			} else if err == nil || sealed != 1 || o.Stats().Parked != 0 {
				t.Fatalf("transient %d: err %v, %d left, stats %+v", tt.status, err, sealed, o.Stats())
			}
		})
	}
}

func TestAPIKeySources(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "key")
	if err := os.WriteFile(kf, []byte("secret1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SPILLWAY_TEST_KEY", "secret1")
	for name, ep := range map[string]Endpoint{
		"literal": {APIKey: "secret1"},
		"file":    {APIKeyFile: kf},
		"env":     {APIKeyEnv: "SPILLWAY_TEST_KEY"},
	} {
		t.Run(name, func(t *testing.T) {
			rv := receiver(t, "secret1", nil)
			ep.URL = server(t, rv).URL
			cfg := testConfig(ep.URL)
			cfg.Primary = ep
			b := newBuffer(t)
			fill(t, b, "td.db1.tbl", 1)
			o, err := New(cfg, b)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.ShipQueued(context.Background()); err != nil || rv.Count("db1", "tbl") != 1 {
				t.Fatalf("ShipQueued = %v, received %d", err, rv.Count("db1", "tbl"))
			}
		})
	}
}

func TestTLSWithCAFile(t *testing.T) {
	rv := receiver(t, "k1", nil)
	s := httptest.NewTLSServer(rv)
	t.Cleanup(s.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	var pemBuf bytes.Buffer
	_ = pem.Encode(&pemBuf, &pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(ca, pemBuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		caFile string
		ok     bool
	}{{"system roots only", "", false}, {"ca file", ca, true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(s.URL)
			cfg.Primary.CAFile = tc.caFile
			b := newBuffer(t)
			fill(t, b, "td.db1.tbl", 1)
			o, err := New(cfg, b)
			if err != nil {
				t.Fatal(err)
			}
			err = o.ShipQueued(context.Background())
			if (err == nil) != tc.ok {
				t.Fatalf("ShipQueued = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	c.Primary = Endpoint{URL: "ftp://x"}
	c.Concurrency = 0
	err := c.Validate()
	for _, want := range []string{"primary.url:", "primary: set exactly one", "concurrency:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, missing %q", err, want)
		}
	}
}

func TestRunShipsUntilCancelled(t *testing.T) {
	rv := receiver(t, "k1", nil)
	b := newBuffer(t)
	o, err := New(testConfig(server(t, rv).URL), b)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	fill(t, b, "td.db1.tbl", 10)
	deadline := time.Now().Add(10 * time.Second)
	for rv.Count("db1", "tbl") < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of 10", rv.Count("db1", "tbl"))
		}
		runtimeGosched()
	}
	cancel()
	<-done
}

// advertising serves rv and answers every request with the header by which
// Spillway's ingest says it takes msgpack.zst.
func advertising(tb testing.TB, rv *tdtest.Server) *httptest.Server {
	tb.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(AcceptEncodingHeader, "zstd")
		rv.ServeHTTP(w, r)
	}))
	tb.Cleanup(s.Close)
	return s
}

func TestCompressionNegotiation(t *testing.T) {
	// compression auto sends msgpack.gz (as tdlog does) to an endpoint
	// until it says, with a response header, that it takes zstd; an
	// endpoint that says so but then refuses a zstd body gets gzip from
	// then on. zstd and gzip are fixed. Every chunk arrives exactly once or
	// is parked.
	const gz, zst = "msgpack.gz", "msgpack.zst"
	tests := []struct {
		name        string
		stored      buffer.Codec
		compression string
		gzipOnly    bool
		advertises  bool
		wantFormats map[string]int
		wantRecords int
		wantParked  uint64
	}{
		{"auto, endpoint that takes zstd but does not say so", buffer.Zstd, CompressionAuto, false, false, map[string]int{gz: 3}, 3, 0},
		{"auto, gzip-only endpoint", buffer.Zstd, CompressionAuto, true, false, map[string]int{gz: 3}, 3, 0},
		{"auto, endpoint saying it takes zstd", buffer.Zstd, CompressionAuto, false, true, map[string]int{gz: 1, zst: 2}, 3, 0},
		{"auto, endpoint saying so but refusing zstd", buffer.Zstd, CompressionAuto, true, true, map[string]int{gz: 3, zst: 1}, 3, 0},
		{"zstd, gzip-only endpoint", buffer.Zstd, CompressionZstd, true, false, map[string]int{zst: 3}, 0, 3},
		{"gzip", buffer.Zstd, CompressionGzip, false, true, map[string]int{gz: 3}, 3, 0},
		{"auto, gzip chunks", buffer.Gzip, CompressionAuto, false, true, map[string]int{gz: 3}, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rv := tdtest.NewTest(t, tdtest.Config{APIKey: "k1", AutoCreate: true, GzipOnly: tt.gzipOnly})
			url := server(t, rv).URL
			if tt.advertises {
				url = advertising(t, rv).URL
			}
			cfg := testConfig(url)
			cfg.Compression = tt.compression
			cfg.Concurrency = 1 // with more, each chunk in flight may use what was known when it left
			b := newBufferCodec(t, t.TempDir(), tt.stored)
			fill(t, b, "td.db1.tbl", 3)
			o, err := New(cfg, b)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.ShipQueued(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := rv.Stats().Formats; !maps.Equal(got, tt.wantFormats) {
				t.Fatalf("requests per format %v, want %v", got, tt.wantFormats)
			}
			if rv.Count("db1", "tbl") != tt.wantRecords || o.Stats().Parked != tt.wantParked {
				t.Fatalf("receiver has %d records, %d chunks parked; want %d, %d", rv.Count("db1", "tbl"), o.Stats().Parked, tt.wantRecords, tt.wantParked)
			}
			if dups := rv.Stats().Duplicates; dups != 0 {
				t.Fatalf("%d duplicate uploads", dups)
			}
		})
	}
}

// TestCompressionRemembered: what an endpoint said about zstd (or its
// refusal of a zstd body) is kept in the state file, so the next run starts
// with it.
func TestCompressionRemembered(t *testing.T) {
	const gz, zst = "msgpack.gz", "msgpack.zst"
	tests := []struct {
		name       string
		gzipOnly   bool
		first, sec map[string]int
	}{
		{"takes zstd", false, map[string]int{gz: 1, zst: 2}, map[string]int{zst: 3}},
		{"refuses zstd", true, map[string]int{gz: 3, zst: 1}, map[string]int{gz: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "endpoints.json")
			rv := tdtest.NewTest(t, tdtest.Config{APIKey: "k1", AutoCreate: true, GzipOnly: tt.gzipOnly})
			url := advertising(t, rv).URL
			for run, want := range []map[string]int{tt.first, tt.sec} {
				before := rv.Stats().Formats
				cfg := testConfig(url)
				cfg.Concurrency, cfg.StateFile = 1, state
				b := newBufferCodec(t, t.TempDir(), buffer.Zstd)
				fill(t, b, "td.db1.tbl", 3)
				o, err := New(cfg, b)
				if err != nil {
					t.Fatal(err)
				}
				if err := o.ShipQueued(context.Background()); err != nil {
					t.Fatal(err)
				}
				got := rv.Stats().Formats
				for f, n := range before {
					got[f] -= n
					if got[f] == 0 {
						delete(got, f)
					}
				}
				if !maps.Equal(got, want) {
					t.Fatalf("run %d: requests per format %v, want %v", run, got, want)
				}
			}
			if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("state file: %v %v", fi, err)
			}
		})
	}
}

func newBufferCodec(tb testing.TB, dir string, c buffer.Codec) *buffer.Buffer {
	tb.Helper()
	bcfg := buffer.DefaultConfig()
	bcfg.Dir, bcfg.Compression = dir, c
	b, err := buffer.Open(bcfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// TestRefusalsThatHeal: a rotated key (401 or 403 for a while) and a table
// not created yet (404 from an endpoint that does not create on import, as
// TD) are retried, never parked; with auto_create_table the output creates
// the database and table, as Fluentd's tdlog does, and delivers.
func TestRefusalsThatHeal(t *testing.T) {
	tests := []struct {
		name       string
		status     int // answered to the first failFirst imports
		failFirst  int
		autoCreate bool // the endpoint creates tables on import
		createOff  bool // output.auto_create_table: false
		wantAlarm  func(Stats) uint64
	}{
		{"rotated key 401", http.StatusUnauthorized, 3, true, false, func(s Stats) uint64 { return s.AuthFailures }},
		{"rotated key 403", http.StatusForbidden, 3, true, false, func(s Stats) uint64 { return s.AuthFailures }},
		{"table not created, create on 404", 0, 0, false, false, func(s Stats) uint64 { return s.NotFound }},
		{"table created later by someone else", http.StatusNotFound, 3, true, true, func(s Stats) uint64 { return s.NotFound }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			rv := tdtest.NewTest(t, tdtest.Config{APIKey: "k1", AutoCreate: tt.autoCreate, Fail: func(string, string, string) int {
				if calls.Add(1) <= int64(tt.failFirst) {
					return tt.status
				}
				return 0
			}})
			b := newBuffer(t)
			fill(t, b, "td.db1.tbl", 1)
			cfg := testConfig(server(t, rv).URL)
			if tt.createOff {
				cfg.AutoCreateTable = new(bool)
			}
			o, err := New(cfg, b)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10 && rv.Count("db1", "tbl") == 0; i++ {
				_ = o.ShipQueued(context.Background())
			}
			st := o.Stats()
			if rv.Count("db1", "tbl") != 1 || st.Parked != 0 {
				t.Fatalf("receiver has %d records, %d chunks parked; want 1, 0 (stats %+v)", rv.Count("db1", "tbl"), st.Parked, st)
			}
			if sealed, _ := b.Pending(); sealed != 0 {
				t.Fatalf("%d chunks still pending", sealed)
			}
			// Auth refusals are counted per attempt; a 404 per attempt
			// too, though one attempt may send zstd and gzip.
			if tt.status != http.StatusNotFound && tt.failFirst > 0 && tt.wantAlarm(st) != uint64(tt.failFirst) ||
				tt.wantAlarm(st) == 0 {
				t.Fatalf("stats %+v: want %d alarmed refusals", st, tt.failFirst)
			}
		})
	}
}

// TestNotFoundWithoutAutoCreate: with auto_create_table false a 404 is
// retried (and alarmed), not parked, and no table is created.
func TestNotFoundWithoutAutoCreate(t *testing.T) {
	rv := tdtest.NewTest(t, tdtest.Config{APIKey: "k1"})
	b := newBuffer(t)
	fill(t, b, "td.db1.tbl", 1)
	cfg := testConfig(server(t, rv).URL)
	cfg.AutoCreateTable = new(bool)
	o, err := New(cfg, b)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := o.ShipQueued(context.Background()); err == nil {
			t.Fatal("a 404 must fail the attempt")
		}
	}
	st := o.Stats()
	if sealed, _ := b.Pending(); sealed != 1 || st.Parked != 0 || st.NotFound != 3 || rv.Count("db1", "tbl") != 0 {
		t.Fatalf("pending %d, stats %+v, receiver %d", sealed, st, rv.Count("db1", "tbl"))
	}
}

// TestResendHorizonParks: a chunk the endpoint keeps refusing with a
// transient answer is retried until it is older than resend.Horizon (the
// longest resend the pipeline's ledger dedups), then parked with the reason,
// never resent past it.
func TestResendHorizonParks(t *testing.T) {
	for _, tt := range []struct {
		name     string
		age      time.Duration
		wantPark bool
	}{{"within the horizon: retried", resend.Horizon - time.Hour, false}, {"past the horizon: parked", resend.Horizon + time.Hour, true}} {
		t.Run(tt.name, func(t *testing.T) {
			rv := receiver(t, "k1", func(string, string, string) int { return http.StatusServiceUnavailable })
			cfg := buffer.DefaultConfig()
			cfg.Dir = t.TempDir()
			cfg.Now = func() time.Time { return time.Now().Add(-tt.age) } // the chunk was created then
			b, err := buffer.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			fill(t, b, "td.db1.tbl", 1)
			o, err := New(testConfig(server(t, rv).URL), b)
			if err != nil {
				t.Fatal(err)
			}
			err = o.ShipQueued(context.Background())
			sealed, _ := b.Pending()
			if tt.wantPark {
				parked, _ := filepath.Glob(filepath.Join(cfg.Dir, "failed", "*.response"))
				if err != nil || sealed != 0 || o.Stats().Parked != 1 || len(parked) != 1 {
					t.Fatalf("err %v, %d left, stats %+v, responses %v", err, sealed, o.Stats(), parked)
				}
				if js, _ := os.ReadFile(parked[0]); !strings.Contains(string(js), "resend horizon") {
					t.Errorf("response file %s does not give the reason", js)
				}
			} else if err == nil || sealed != 1 || o.Stats().Parked != 0 {
				t.Fatalf("err %v, %d left, stats %+v", err, sealed, o.Stats())
			}
		})
	}
}
