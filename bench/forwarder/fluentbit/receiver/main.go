// Command receiver is a loopback-only HTTP receiver for forwarder benchmarks.
// It answers every POST with 200 and counts what arrived: requests, wire
// bytes, decoded bytes and records (newline-terminated lines for JSON lines /
// plain bodies, top-level objects for application/msgpack bodies). Bodies
// with Content-Encoding gzip are decompressed. GET /stats returns the
// counters as JSON, with the Unix-nanosecond times of the first and last POST.
//
//	go run ./bench/forwarder/fluentbit/receiver -addr 127.0.0.1:0 -addr-file /tmp/receiver.addr
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// stats is what GET /stats reports.
type stats struct {
	Requests    int64 `json:"requests"`
	Records     int64 `json:"records"`
	WireBytes   int64 `json:"wire_bytes"`
	BodyBytes   int64 `json:"body_bytes"`
	Errors      int64 `json:"errors"`
	FirstUnixNs int64 `json:"first_unix_ns"`
	LastUnixNs  int64 `json:"last_unix_ns"`
}

type receiver struct {
	mu sync.Mutex
	st stats
}

func (s *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/stats" {
		s.mu.Lock()
		st := s.st
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	wire, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, err)
		return
	}
	body := wire
	if strings.Contains(strings.ToLower(r.Header.Get("Content-Encoding")), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			s.fail(w, err)
			return
		}
		body, err = io.ReadAll(zr)
		if err != nil {
			s.fail(w, err)
			return
		}
	}
	var n int64
	if strings.Contains(r.Header.Get("Content-Type"), "msgpack") {
		n, err = countMsgpack(body)
		if err != nil {
			s.fail(w, err)
			return
		}
	} else {
		n = int64(bytes.Count(body, []byte{'\n'}))
		if len(body) > 0 && body[len(body)-1] != '\n' {
			n++
		}
	}
	now := time.Now().UnixNano()
	s.mu.Lock()
	s.st.Requests++
	s.st.Records += n
	s.st.WireBytes += int64(len(wire))
	s.st.BodyBytes += int64(len(body))
	if s.st.FirstUnixNs == 0 {
		s.st.FirstUnixNs = now
	}
	s.st.LastUnixNs = now
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *receiver) fail(w http.ResponseWriter, err error) {
	s.mu.Lock()
	s.st.Errors++
	s.mu.Unlock()
	http.Error(w, err.Error(), http.StatusBadRequest)
}

var errShort = errors.New("msgpack: truncated")

// countMsgpack counts the top-level MessagePack objects in b.
func countMsgpack(b []byte) (int64, error) {
	var n int64
	for off := 0; off < len(b); n++ {
		next, err := skip(b, off)
		if err != nil {
			return n, err
		}
		off = next
	}
	return n, nil
}

// skip returns the offset just past the MessagePack object that starts at off.
func skip(b []byte, off int) (int, error) {
	if off >= len(b) {
		return 0, errShort
	}
	c := b[off]
	off++
	be := func(k int) (int, error) { // big-endian length of k bytes at off
		if off+k > len(b) {
			return 0, errShort
		}
		v := 0
		for i := 0; i < k; i++ {
			v = v<<8 | int(b[off+i])
		}
		off += k
		return v, nil
	}
	raw := func(k int) (int, error) {
		if k < 0 || off+k > len(b) {
			return 0, errShort
		}
		return off + k, nil
	}
	items := func(count int) (int, error) {
		var err error
		for i := 0; i < count; i++ {
			if off, err = skip(b, off); err != nil {
				return 0, err
			}
		}
		return off, nil
	}
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return off, nil
	case c >= 0x80 && c <= 0x8f:
		return items(2 * int(c&0x0f))
	case c >= 0x90 && c <= 0x9f:
		return items(int(c & 0x0f))
	case c >= 0xa0 && c <= 0xbf:
		return raw(int(c & 0x1f))
	}
	switch c {
	case 0xcc, 0xd0:
		return raw(1)
	case 0xcd, 0xd1:
		return raw(2)
	case 0xca, 0xce, 0xd2:
		return raw(4)
	case 0xcb, 0xcf, 0xd3:
		return raw(8)
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 (+1 type byte)
		return raw(1 + 1<<(c-0xd4))
	case 0xc4, 0xd9, 0xc5, 0xda, 0xc6, 0xdb: // bin / str 8, 16, 32
		k := map[byte]int{0xc4: 1, 0xd9: 1, 0xc5: 2, 0xda: 2, 0xc6: 4, 0xdb: 4}[c]
		l, err := be(k)
		if err != nil {
			return 0, err
		}
		return raw(l)
	case 0xc7, 0xc8, 0xc9: // ext 8, 16, 32
		l, err := be(map[byte]int{0xc7: 1, 0xc8: 2, 0xc9: 4}[c])
		if err != nil {
			return 0, err
		}
		return raw(l + 1)
	case 0xdc, 0xdd:
		l, err := be(map[byte]int{0xdc: 2, 0xdd: 4}[c])
		if err != nil {
			return 0, err
		}
		return items(l)
	case 0xde, 0xdf:
		l, err := be(map[byte]int{0xde: 2, 0xdf: 4}[c])
		if err != nil {
			return 0, err
		}
		return items(2 * l)
	}
	return 0, fmt.Errorf("msgpack: unknown type byte 0x%02x", c)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	addrFile := flag.String("addr-file", "", "write the bound host:port here once listening")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !(host == "127.0.0.1" || host == "localhost" || host == "::1") {
		fmt.Fprintln(os.Stderr, "receiver: -addr must be a loopback host:port")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "receiver:", err)
			os.Exit(1)
		}
	}
	srv := &http.Server{Handler: &receiver{}, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}
