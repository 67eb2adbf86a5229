package output

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/output/forward"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// keepSource hands out the same chunk and never deletes it, so each
// benchmark iteration ships the same stored chunk again.
type keepSource struct{ c *buffer.Chunk }

func (s keepSource) Next(context.Context) (*buffer.Chunk, error) { return s.c, nil }
func (s keepSource) TryNext() *buffer.Chunk                      { return s.c }
func (s keepSource) Ack(*buffer.Chunk) error                     { return nil }
func (s keepSource) Park(*buffer.Chunk, []byte) error            { return nil }
func (s keepSource) Release(*buffer.Chunk)                       {}

// apacheChunk stores n Apache-combined-like records (about 260 bytes of
// msgpack each) as one chunk with the buffer's default zstd compression
// and returns it with the records' raw size.
func apacheChunk(b *testing.B, n int) (*buffer.Chunk, int) {
	buf := openBuffer(b, b.TempDir(), nil)
	var recs []byte
	methods := []string{"GET", "GET", "GET", "POST", "HEAD"}
	for i := 0; i < n; i++ {
		var err error
		recs, err = tdrecord.AppendRecord(recs, map[string]any{
			"host": fmt.Sprintf("10.%d.%d.%d", i%7, i%251, i%13), "user": "-", "method": methods[i%len(methods)],
			"path": "/item/" + strconv.Itoa(i*7919%100000) + "?ref=list&page=" + strconv.Itoa(i%40),
			"code": []int{200, 200, 200, 304, 404}[i%5], "size": 1000 + i*31%50000,
			"referer": "https://www.example.com/category/" + strconv.Itoa(i%300),
			"agent":   "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		}, int64(1700000000+i/100))
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < n; i += 1000 { // tail batches
		lo, hi := recordOffset(b, recs, i), recordOffset(b, recs, min(i+1000, n))
		if err := buf.Append(context.Background(), "td.web.access", recs[lo:hi], min(1000, n-i)); err != nil {
			b.Fatal(err)
		}
	}
	buf.SealAll()
	c := buf.TryNext()
	if c == nil {
		b.Fatal("no chunk")
	}
	return c, len(recs)
}

// recordOffset is the offset of the i-th record of the stream recs.
func recordOffset(b *testing.B, recs []byte, i int) int {
	p := recs
	for ; i > 0; i-- {
		var err error
		if p, err = msgp.Skip(p); err != nil {
			b.Fatal(err)
		}
	}
	return len(recs) - len(p)
}

// tdReceiver is a TD import endpoint that reads each body and answers 200.
func tdReceiver(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"database":"web","table":"access","unique_id":"x","md5_hex":"","elapsed_time":0}`)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// forwardReceiver is a forward server that frames each PackedForward
// message with msgp (reading its entries) and acks its chunk.
func forwardReceiver(b *testing.B) (string, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r, w := msgp.NewReaderSize(c, 64<<10), msgp.NewWriter(c)
				var entries []byte
				for {
					if _, err := r.ReadArrayHeader(); err != nil {
						return
					}
					if err := r.Skip(); err != nil { // tag
						return
					}
					if entries, err = r.ReadBytes(entries[:0]); err != nil {
						return
					}
					n, err := r.ReadMapHeader()
					if err != nil {
						return
					}
					chunk := ""
					for ; n > 0; n-- {
						k, err := r.ReadString()
						if err != nil {
							return
						}
						if k == "chunk" {
							if chunk, err = r.ReadString(); err != nil {
								return
							}
						} else if err := r.Skip(); err != nil {
							return
						}
					}
					_ = w.WriteMapHeader(1)
					_ = w.WriteString("ack")
					_ = w.WriteString(chunk)
					if w.Flush() != nil {
						return
					}
				}
			}()
		}
	}()
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// BenchmarkShip ships one stored chunk of 20,000 Apache-like records per
// iteration to a loopback receiver that reads everything and answers: the
// TD output (import_with_id, msgpack.zst as stored or msgpack.gz
// converted) next to the forward output (PackedForward, or
// CompressedPackedForward with gzip, acked). MB/s are of the records'
// msgpack.
func BenchmarkShip(b *testing.B) {
	c, raw := apacheChunk(b, 20000)
	tdURL := tdReceiver(b)
	host, port := forwardReceiver(b)
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"td-zstd", func(cfg *Config) { cfg.Compression = CompressionZstd }},
		{"td-gzip", func(cfg *Config) { cfg.Compression = CompressionGzip }},
		{"forward-packed", func(cfg *Config) { cfg.Type, cfg.Forward = TypeForward, &forward.Config{} }},
		{"forward-gzip", func(cfg *Config) {
			cfg.Type, cfg.Forward = TypeForward, &forward.Config{Compress: forward.CompressGzip}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Logger = slog.New(slog.DiscardHandler)
			tc.cfg(&cfg)
			if cfg.Type == TypeForward {
				cfg.Forward.Servers = []forward.Server{{Host: host, Port: port}}
				f := cfg.Forward.WithDefaults()
				cfg.Forward = &f
			} else {
				cfg.Primary = Endpoint{URL: tdURL, APIKey: "k"}
			}
			o, err := New(cfg, keepSource{c})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(raw))
			cpu0 := cpuTime(b)
			for b.Loop() {
				if err := o.Ship(context.Background(), c); err != nil {
					b.Fatal(err)
				}
			}
			// CPU of the whole process (output and receiver): on a shared
			// 2-core machine the figure that carries over.
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
			b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(o.Stats().Bytes)/float64(o.Stats().Chunks), "wire-bytes/op")
		})
	}
}
