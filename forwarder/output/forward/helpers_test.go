package forward

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/input/forwardin"
	"github.com/spillwayhq/spillway/forwarder/intake"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

const baseTime = 1_700_000_000

// openBuffer opens a disk buffer in a temporary directory.
func openBuffer(tb testing.TB, codec buffer.Codec) *buffer.Buffer {
	tb.Helper()
	cfg := buffer.DefaultConfig()
	cfg.Dir = tb.TempDir()
	cfg.Compression = codec
	cfg.Logger = slog.New(slog.DiscardHandler)
	b, err := buffer.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// record is the i-th test record: {"seq": i, "msg": ..., "time": t}.
func record(tb testing.TB, dst []byte, i int) []byte {
	tb.Helper()
	out, err := tdrecord.AppendRecord(dst, map[string]any{"seq": i, "msg": "line " + strconv.Itoa(i), "n": map[string]any{"a": []any{1, "x"}}}, int64(baseTime+i))
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// fill appends records from..from+n-1 to b for tag, per records a chunk,
// sealing each chunk.
func fill(tb testing.TB, b *buffer.Buffer, tag string, from, n, per int) {
	tb.Helper()
	for i := from; i < from+n; i += per {
		var recs []byte
		k := 0
		for j := i; j < min(i+per, from+n); j++ {
			recs = record(tb, recs, j)
			k++
		}
		if err := b.Append(context.Background(), tag, recs, k); err != nil {
			tb.Fatal(err)
		}
		b.SealAll()
	}
}

// collector is an intake.Appender for forwardin that keeps every record.
type collector struct {
	mu   sync.Mutex
	recs []map[string]any
	tags []string
}

var _ intake.Appender = (*collector)(nil)

func (c *collector) Append(_ context.Context, tag string, records []byte, count int) error {
	ms, err := tdrecord.Decode(records, tdrecord.DefaultLimits())
	if err != nil {
		return err
	}
	if len(ms) != count {
		return fmt.Errorf("count %d, %d records", count, len(ms))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range ms {
		c.recs = append(c.recs, m)
		c.tags = append(c.tags, tag)
	}
	return nil
}

func (c *collector) seqs() map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[int]int{}
	for _, m := range c.recs {
		out[seqOf(m)]++
	}
	return out
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

func seqOf(m map[string]any) int {
	switch v := m["seq"].(type) {
	case int64:
		return int(v)
	case uint64:
		return int(v)
	case int8:
		return int(v)
	case uint8:
		return int(v)
	case int16:
		return int(v)
	case uint16:
		return int(v)
	case int32:
		return int(v)
	case uint32:
		return int(v)
	case int:
		return v
	}
	return -1
}

// fwdServer is forwardin serving on a loopback port.
type fwdServer struct {
	srv  *forwardin.Server
	addr string
	col  *collector
	done chan error
	once sync.Once
}

// startForwardin serves forwardin with cfg (Addr ignored) into a collector
// until kill or cleanup.
func startForwardin(tb testing.TB, mod func(*forwardin.Config)) *fwdServer {
	tb.Helper()
	cfg := forwardin.DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	col := &collector{}
	srv, err := forwardin.New(cfg, col, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f := &fwdServer{srv: srv, addr: ln.Addr().String(), col: col, done: make(chan error, 1)}
	go func() { f.done <- srv.Serve(ln) }()
	tb.Cleanup(f.kill)
	return f
}

// kill stops the server at once: connections are closed, unacked messages
// are lost to it.
func (f *fwdServer) kill() {
	f.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = f.srv.Shutdown(ctx)
		<-f.done
	})
}

func serverAt(tb testing.TB, addr string) Server {
	tb.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return Server{Host: h, Port: port}
}

// newOutput builds an Output over src with cfg's zero fields defaulted.
func newOutput(tb testing.TB, cfg Config, src Source) *Output {
	tb.Helper()
	o, err := New(cfg.WithDefaults(), src, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// shipAll ships every queued chunk with ShipQueued, failing on an error.
func shipAll(tb testing.TB, o *Output) {
	tb.Helper()
	if err := o.ShipQueued(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// wantSeqs checks that got holds from..from+n-1 exactly once each.
func wantSeqs(tb testing.TB, got map[int]int, from, n int) {
	tb.Helper()
	if len(got) != n {
		tb.Errorf("%d distinct records, want %d", len(got), n)
	}
	for i := from; i < from+n; i++ {
		if got[i] != 1 {
			tb.Errorf("record %d received %d times, want once", i, got[i])
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key; the
// certificate is its own CA.
func selfSigned(tb testing.TB) (certFile, keyFile string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
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
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile
}

// startSilent serves a listener that reads everything and never answers;
// it returns its address.
func startSilent(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
