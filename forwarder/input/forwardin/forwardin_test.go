package forwardin

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/intake"
)

var fixedNow = time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC)

type rec = map[string]any

type stored struct {
	tag string
	rec rec
}

// fakeSink keeps what Append received and wakes waiters.
type fakeSink struct {
	mu      sync.Mutex
	recs    []stored
	calls   int
	err     error
	changed chan struct{}
	hold    chan struct{} // if set, Append waits for it to be closed
	entered chan struct{} // if set, signalled when Append starts
}

var _ intake.Appender = (*fakeSink)(nil)

func newFakeSink() *fakeSink { return &fakeSink{changed: make(chan struct{}, 1)} }

func (f *fakeSink) Append(ctx context.Context, tag string, records []byte, count int) error {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.hold != nil {
		<-f.hold
	}
	if f.err != nil {
		return f.err
	}
	recs, err := decodeStream(records)
	if err != nil {
		return err
	}
	if len(recs) != count {
		return fmt.Errorf("count %d but %d records", count, len(recs))
	}
	f.mu.Lock()
	for _, r := range recs {
		f.recs = append(f.recs, stored{tag, r})
	}
	f.calls++
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
	return nil
}

func (f *fakeSink) snapshot() []stored {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stored(nil), f.recs...)
}

// waitRecords waits until the intake holds n records or the deadline passes.
func (f *fakeSink) waitRecords(tb testing.TB, n int) []stored {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := f.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-f.changed:
		case <-deadline:
			tb.Fatalf("intake has %d records, want %d", len(f.snapshot()), n)
		}
	}
}

func decodeStream(b []byte) ([]rec, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	var out []rec
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, norm(m).(rec))
	}
}

func norm(v any) any {
	switch t := v.(type) {
	case int8, int16, int32, int, uint8, uint16, uint32, uint64:
		i, _ := strconv.ParseInt(fmt.Sprint(t), 10, 64)
		return i
	case float32:
		return float64(t)
	case map[string]any:
		for k, x := range t {
			t[k] = norm(x)
		}
	case []any:
		for i, x := range t {
			t[i] = norm(x)
		}
	}
	return v
}

// configWith returns DefaultConfig changed by mod.
func configWith(mod func(*Config)) Config {
	c := DefaultConfig()
	mod(&c)
	return c
}

// startServer serves cfg on a free loopback port until cleanup.
func startServer(tb testing.TB, cfg Config, s intake.Appender) (*Server, string) {
	tb.Helper()
	srv, err := New(cfg, s, nil)
	if err != nil {
		tb.Fatal(err)
	}
	srv.now = func() time.Time { return fixedNow }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

func hostPort(tb testing.TB, addr string) (string, int) {
	tb.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return h, port
}

func TestFluentLoggerGolang(t *testing.T) {
	tests := []struct {
		name                 string
		ack, subSecond, json bool
		tls                  bool
	}{
		{"no ack", false, false, false, false},
		{"ack", true, false, false, false},
		{"ack with EventTime", true, true, false, false},
		{"json with ack", true, false, true, false},
		{"tls with ack", true, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeSink()
			cfg := DefaultConfig()
			if tt.tls {
				cfg.TLS = selfSigned(t)
			}
			srv, addr := startServer(t, cfg, fs)
			host, port := hostPort(t, addr)
			fc := fluent.Config{FluentHost: host, FluentPort: port, RequestAck: tt.ack, SubSecondPrecision: tt.subSecond,
				MarshalAsJSON: tt.json, Timeout: 5 * time.Second, WriteTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, MaxRetry: 1}
			if tt.tls {
				fc.FluentNetwork = "tls"
				fc.TlsInsecureSkipVerify = true
			}
			logger, err := fluent.New(fc)
			if err != nil {
				t.Fatal(err)
			}
			const n = 20
			for i := 0; i < n; i++ {
				if err := logger.PostWithTime("td.db1.tbl1", time.Unix(1700000000+int64(i), 123456789), map[string]any{"i": i, "msg": "hello", "time": "overwritten"}); err != nil {
					t.Fatalf("post %d: %v", i, err)
				}
			}
			if tt.ack {
				// Every Post returned after its ack: all records are stored now.
				if got := len(fs.snapshot()); got != n {
					t.Fatalf("after acks the intake has %d records, want %d", got, n)
				}
				if st := srv.Stats(); st.Acks != n {
					t.Fatalf("acks = %d", st.Acks)
				}
			}
			got := fs.waitRecords(t, n)
			if err := logger.Close(); err != nil {
				t.Fatal(err)
			}
			for i, s := range got {
				want := rec{"i": int64(i), "msg": "hello", "time": int64(1700000000 + i)}
				if s.tag != "td.db1.tbl1" || !reflect.DeepEqual(s.rec, want) {
					t.Fatalf("record %d = %s %v, want %v", i, s.tag, s.rec, want)
				}
			}
		})
	}
}

// python3WithFluent finds a Python that has Debian's python3-fluent-logger:
// $SPILLWAY_PYTHON3, /usr/bin/python3 (Debian's own, where apt installs
// the module), then python3 on PATH.
func python3WithFluent(tb testing.TB) string {
	tb.Helper()
	cands := []string{os.Getenv("SPILLWAY_PYTHON3"), "/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if err := exec.Command(c, "-c", "import fluent.sender").Run(); err == nil {
			return c
		}
	}
	tb.Fatalf("no python3 with the fluent module (tried %q); install it: apt-get install -y python3-fluent-logger", cands)
	return ""
}

const pyClient = `
import sys
from fluent import sender
port, nano = int(sys.argv[1]), sys.argv[2] == "1"
s = sender.FluentSender("td.pydb", host="127.0.0.1", port=port, nanosecond_precision=nano, timeout=5.0)
ok = True
for i in range(10):
    ok = s.emit_with_time("tbl1", 1700000000 + i + (0.5 if nano else 0), {"from": "python", "i": i, "u": "\u00e9"}) and ok
s.close()
if not ok:
    print(s.last_error, file=sys.stderr)
    sys.exit(1)
`

func TestPythonFluentLogger(t *testing.T) {
	py := python3WithFluent(t)
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(pyClient), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, nano := range []string{"0", "1"} {
		t.Run("nanosecond_precision="+nano, func(t *testing.T) {
			fs := newFakeSink()
			_, addr := startServer(t, DefaultConfig(), fs)
			_, port := hostPort(t, addr)
			out, err := exec.Command(py, script, strconv.Itoa(port), nano).CombinedOutput()
			if err != nil {
				t.Fatalf("python client: %v: %s", err, out)
			}
			got := fs.waitRecords(t, 10)
			for i, s := range got {
				want := rec{"from": "python", "i": int64(i), "u": "é", "time": int64(1700000000 + i)}
				if s.tag != "td.pydb.tbl1" || !reflect.DeepEqual(s.rec, want) {
					t.Fatalf("record %d = %s %v, want %v", i, s.tag, s.rec, want)
				}
			}
		})
	}
}

// eventTimeExt is the EventTime extension as fixext8.
func eventTimeExt(sec, nsec uint32) msgpack.RawMessage {
	b := []byte{0xd7, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[2:], sec)
	binary.BigEndian.PutUint32(b[6:], nsec)
	return b
}

func mp(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func gzipped(tb testing.TB, parts ...[]byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	for _, p := range parts { // one gzip member per part, like Fluentd's chunks
		w := gzip.NewWriter(&buf)
		w.Write(p)
		if err := w.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestModes(t *testing.T) {
	e1 := mp(t, []any{1700000001, rec{"a": 1}})
	e2 := mp(t, []any{eventTimeExt(1700000002, 5), rec{"a": 2, "time": "x"}})
	stream := append(append([]byte(nil), e1...), e2...)
	want2 := []rec{{"a": int64(1), "time": int64(1700000001)}, {"a": int64(2), "time": int64(1700000002)}}
	tests := []struct {
		name    string
		msg     []byte
		want    []rec
		ack     string
		invalid uint64
	}{
		{"message", mp(t, []any{"td.db1.tbl1", 1700000001, rec{"a": 1}}), want2[:1], "", 0},
		{"message with EventTime and chunk", mp(t, []any{"td.db1.tbl1", eventTimeExt(1700000002, 5), rec{"a": 2}, rec{"chunk": "c1"}}), []rec{{"a": int64(2), "time": int64(1700000002)}}, "c1", 0},
		{"message float time", mp(t, []any{"td.db1.tbl1", 1700000001.9, rec{"a": 1}}), want2[:1], "", 0},
		{"message time 0 is now", mp(t, []any{"td.db1.tbl1", 0, rec{"a": 1}}), []rec{{"a": int64(1), "time": fixedNow.Unix()}}, "", 0},
		{"forward", mp(t, []any{"td.db1.tbl1", []msgpack.RawMessage{e1, e2}, rec{"chunk": "c2", "size": 2}}), want2, "c2", 0},
		{"packed forward (str)", mp(t, []any{"td.db1.tbl1", string(stream), rec{"chunk": "c3"}}), want2, "c3", 0},
		{"packed forward (bin)", mp(t, []any{"td.db1.tbl1", stream}), want2, "", 0},
		{"compressed packed forward, two gzip members", mp(t, []any{"td.db1.tbl1", gzipped(t, e1, e2), rec{"compressed": "gzip", "chunk": "c4"}}), want2, "c4", 0},
		{"invalid entries skipped", mp(t, []any{"td.db1.tbl1", []any{[]any{"notatime", rec{}}, []any{1, "notamap"}, []any{1, nil}, []any{1700000001, rec{"a": 1}}}, rec{"chunk": "c5"}}), want2[:1], "c5", 2},
		{"fluent bit v2 [time, metadata] entries", mp(t, []any{"td.db1.tbl1", []any{[]any{[]any{eventTimeExt(1700000001, 0), rec{"m": 1}}, rec{"a": 1}}}}), want2[:1], "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeSink()
			srv, addr := startServer(t, DefaultConfig(), fs)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Write the message in two pieces to exercise framing.
			half := len(tt.msg) / 2
			if _, err := c.Write(tt.msg[:half]); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(tt.msg[half:]); err != nil {
				t.Fatal(err)
			}
			if tt.ack != "" {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				var ack map[string]string
				if err := msgpack.NewDecoder(c).Decode(&ack); err != nil {
					t.Fatalf("read ack: %v", err)
				}
				if ack["ack"] != tt.ack {
					t.Fatalf("ack = %v, want %s", ack, tt.ack)
				}
			}
			var got []stored
			if len(tt.want) > 0 {
				got = fs.waitRecords(t, len(tt.want))
			} else {
				got = fs.snapshot()
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d records, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].tag != "td.db1.tbl1" || !reflect.DeepEqual(got[i].rec, tt.want[i]) {
					t.Fatalf("record %d = %v, want %v", i, got[i].rec, tt.want[i])
				}
			}
			st := srv.Stats()
			if st.Invalid != tt.invalid || st.Unroutable != 0 {
				t.Fatalf("stats %+v, want invalid %d", st, tt.invalid)
			}
		})
	}
}

// TestClosedWithoutAck covers every case where the client must not get an
// ack: the connection is closed instead and nothing is stored.
func TestClosedWithoutAck(t *testing.T) {
	good := func(tb testing.TB) []byte { return mp(tb, []any{"td.db1.tbl1", 1, rec{"a": 1}, rec{"chunk": "c"}}) }
	tests := []struct {
		name    string
		cfg     Config
		sinkErr error
		msg     func(testing.TB) []byte
		stat    func(Stats) uint64
	}{
		{"intake full", DefaultConfig(), intake.ErrFull, good, func(s Stats) uint64 { return s.Refused }},
		{"intake error", DefaultConfig(), errors.New("disk gone"), good, func(s Stats) uint64 { return s.Refused }},
		{"message too large", configWith(func(c *Config) { c.MaxMessageBytes = 64 }), nil, func(tb testing.TB) []byte {
			return mp(tb, []any{"td.db1.tbl1", 1, rec{"a": string(bytes.Repeat([]byte("x"), 100))}, rec{"chunk": "c"}})
		}, func(s Stats) uint64 { return s.Protocol }},
		{"decompression bomb", configWith(func(c *Config) { c.MaxDecompressedBytes = 1000 }), nil, func(tb testing.TB) []byte {
			return mp(tb, []any{"td.db1.tbl1", gzipped(tb, bytes.Repeat([]byte{0xc0}, 5000)), rec{"compressed": "gzip", "chunk": "c"}})
		}, func(s Stats) uint64 { return s.Protocol }},
		{"not msgpack", DefaultConfig(), nil, func(testing.TB) []byte { return []byte{0xc1, 0xc1} }, func(s Stats) uint64 { return s.Protocol }},
		{"unroutable tag, chunk asked", DefaultConfig(), intake.ErrUnroutable, func(tb testing.TB) []byte {
			return mp(tb, []any{"app.access", 1, rec{"a": 1}, rec{"chunk": "c"}})
		}, func(s Stats) uint64 { return s.Unroutable }},
		{"not an array", DefaultConfig(), nil, func(tb testing.TB) []byte { return mp(tb, rec{"a": 1}) }, func(s Stats) uint64 { return s.Protocol }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeSink()
			fs.err = tt.sinkErr
			srv, addr := startServer(t, tt.cfg, fs)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tt.msg(t)); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("want a clean close, got %v", err)
			}
			if len(b) != 0 {
				t.Fatalf("got an answer %x, want none", b)
			}
			if len(fs.snapshot()) != 0 {
				t.Fatal("records stored")
			}
			if tt.stat(srv.Stats()) != 1 {
				t.Fatalf("stats %+v", srv.Stats())
			}
		})
	}
}

// TestAckOnlyAfterAppend holds Append and checks no ack arrives before it
// returns.
func TestAckOnlyAfterAppend(t *testing.T) {
	fs := newFakeSink()
	fs.hold, fs.entered = make(chan struct{}), make(chan struct{}, 1)
	_, addr := startServer(t, DefaultConfig(), fs)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(mp(t, []any{"td.db1.tbl1", 1, rec{"a": 1}, rec{"chunk": "z"}})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fs.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("Append not called")
	}
	acked := make(chan error, 1)
	go func() {
		var ack map[string]string
		err := msgpack.NewDecoder(c).Decode(&ack)
		if err == nil && ack["ack"] != "z" {
			err = fmt.Errorf("ack %v", ack)
		}
		acked <- err
	}()
	select {
	case err := <-acked:
		t.Fatalf("ack (or error %v) before Append returned", err)
	default:
	}
	close(fs.hold)
	select {
	case err := <-acked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ack after Append returned")
	}
}

// pingClient runs the client side of the handshake per the spec.
func pingClient(tb testing.TB, c net.Conn, sharedKey, user, pass string) []any {
	tb.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	dec := msgpack.NewDecoder(c)
	var helo []any
	if err := dec.Decode(&helo); err != nil {
		tb.Fatalf("read HELO: %v", err)
	}
	if len(helo) != 2 || helo[0] != "HELO" {
		tb.Fatalf("HELO = %v", helo)
	}
	opts := helo[1].(map[string]any)
	nonce, authSalt := opts["nonce"].([]byte), opts["auth"].([]byte)
	salt := "client-salt"
	ping := []any{"PING", "client.example", salt, digest(salt, "client.example", string(nonce), sharedKey), user, ""}
	if user != "" {
		ping[5] = digest(string(authSalt), user, pass)
	}
	if _, err := c.Write(mp(tb, ping)); err != nil {
		tb.Fatal(err)
	}
	var pong []any
	if err := dec.Decode(&pong); err != nil {
		tb.Fatalf("read PONG: %v", err)
	}
	if pong[1] == true && pong[4] != digest(salt, pong[3].(string), string(nonce), sharedKey) {
		tb.Fatalf("server digest does not verify: %v", pong)
	}
	return pong
}

func TestHandshake(t *testing.T) {
	tests := []struct {
		name, key, user, pass string
		ok                    bool
		reason                string
	}{
		{"right key", "s3cret", "", "", true, ""},
		{"wrong key", "nope", "", "", false, "shared_key mismatch"},
		{"user ok", "s3cret", "alice", "pw", true, ""},
		{"user bad password", "s3cret", "alice", "bad", false, "username/password mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configWith(func(c *Config) { c.SharedKey = "s3cret"; c.SelfHostname = "spillway-test" })
			if tt.user != "" {
				cfg.Users = []User{{Username: "alice", Password: "pw"}}
			}
			fs := newFakeSink()
			srv, addr := startServer(t, cfg, fs)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			pong := pingClient(t, c, tt.key, tt.user, tt.pass)
			if pong[1] != tt.ok || pong[2] != tt.reason {
				t.Fatalf("PONG = %v", pong)
			}
			if !tt.ok {
				if srv.Stats().AuthFailed != 1 {
					t.Fatalf("stats %+v", srv.Stats())
				}
				return
			}
			if _, err := c.Write(mp(t, []any{"td.db1.tbl1", 5, rec{"a": 1}, rec{"chunk": "h"}})); err != nil {
				t.Fatal(err)
			}
			var ack map[string]string
			if err := msgpack.NewDecoder(c).Decode(&ack); err != nil || ack["ack"] != "h" {
				t.Fatalf("ack %v %v", ack, err)
			}
			if got := fs.snapshot(); len(got) != 1 {
				t.Fatalf("stored %v", got)
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	srv, err := New(configWith(func(c *Config) { c.Heartbeat = true }), newFakeSink(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeHeartbeat(pc) }()
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	n, err := c.Read(b)
	if err != nil || n != 1 || b[0] != 0 {
		t.Fatalf("reply %x %v", b[:n], err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	err := configWith(func(c *Config) {
		c.Addr, c.MaxMessageBytes, c.MaxDecompressedBytes, c.IdleTimeout = "x", -1, 0, 0
		c.Users, c.TLS = []User{{}}, &TLSConfig{}
	}).Validate()
	for _, w := range []string{"addr", "max_message_bytes", "max_decompressed_bytes", "idle_timeout", "users: need shared_key", "users[0].username", "tls"} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(w)) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}

// selfSigned writes a throwaway certificate for 127.0.0.1.
func selfSigned(tb testing.TB) *TLSConfig {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	cfg := &TLSConfig{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(cfg.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(cfg.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte{0x93, 0xab, 't', 'd', '.', 'd', 'b', '1', '.', 't', 'b', 'l', 0x01, 0x81, 0xa1, 'a', 0x01})
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, out, n, _, err := DecodeMessage(msg, nil, 42, 1<<20)
		if err != nil {
			return
		}
		recs, err := decodeStream(out)
		if err != nil {
			t.Fatalf("output does not decode: %v", err)
		}
		if len(recs) != n {
			t.Fatalf("count %d, stream %d", n, len(recs))
		}
		for _, r := range recs {
			if _, ok := r["time"].(int64); !ok {
				t.Fatalf("time %T", r["time"])
			}
		}
	})
}

// TestShutdownWithOpenConnections: idle and half-sent connections do not
// hold Shutdown up; a message already complete is stored and acked first.
func TestShutdownWithOpenConnections(t *testing.T) {
	fs := newFakeSink()
	srv, err := New(DefaultConfig(), fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	half, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	msg := mp(t, []any{"td.db1.tbl1", 1, rec{"a": 1}, rec{"chunk": "s"}})
	if _, err := half.Write(msg); err != nil {
		t.Fatal(err)
	}
	half.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ack map[string]string
	if err := msgpack.NewDecoder(half).Decode(&ack); err != nil || ack["ack"] != "s" {
		t.Fatalf("ack %v %v", ack, err)
	}
	if _, err := half.Write(msg[:5]); err != nil { // a message cut short
		t.Fatal(err)
	}
	// Both connections are known to the server once it has answered or
	// counted them.
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().Connections < 2 {
		if time.Now().After(deadline) {
			t.Fatal("connections not accepted")
		}
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if got := len(fs.snapshot()); got != 1 {
		t.Fatalf("stored %d records, want 1", got)
	}
}

func BenchmarkDecodePackedForward(b *testing.B) {
	var stream []byte
	const n = 1000
	for i := 0; i < n; i++ {
		stream = append(stream, mp(b, []any{eventTimeExt(1700000000, uint32(i)), rec{"host": "192.168.0.1", "method": "GET", "path": "/x/y/z", "code": 200, "size": 1234, "agent": "Mozilla/5.0 (X11; Linux x86_64)"}})...)
	}
	msg := mp(b, []any{"td.db1.tbl1", stream, rec{"chunk": "abc", "size": n}})
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	var out []byte
	for i := 0; i < b.N; i++ {
		var err error
		_, out, _, _, err = DecodeMessage(msg, out[:0], 1, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
