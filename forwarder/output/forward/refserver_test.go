package forward

// A minimal forward-protocol server written for these tests from the
// protocol specification, independent of forwarder/input/forwardin: it
// decodes with vmihailenco/msgpack and the standard library's gzip, keeps
// what it got (tag, time, EventTime or not, record, options) and acks.

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// refEvent is one event the reference server received.
type refEvent struct {
	Tag       string
	Sec, Nsec uint32
	EventTime bool // the time was EventTime (ext 0), not an integer
	Record    map[string]any
}

// refMessage is one message's options.
type refMessage struct {
	Size       int
	Chunk      string
	Compressed string
	Events     int
}

type refServer struct {
	ln        net.Listener
	sharedKey string
	// noAck, when > 0, is the number of messages read and then answered
	// by closing the connection without an ack (a lost ack).
	noAck int

	mu     sync.Mutex
	events []refEvent
	msgs   []refMessage
	conns  map[net.Conn]bool
	errs   []error
	wg     sync.WaitGroup
}

// startRef serves on a free loopback port until cleanup.
func startRef(tb testing.TB, mod func(*refServer)) *refServer {
	tb.Helper()
	return startRefAt(tb, "127.0.0.1:0", mod)
}

// startRefAt serves on addr until cleanup.
func startRefAt(tb testing.TB, addr string, mod func(*refServer)) *refServer {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	r := &refServer{ln: ln, conns: map[net.Conn]bool{}}
	if mod != nil {
		mod(r)
	}
	r.wg.Add(1)
	go r.accept()
	tb.Cleanup(func() {
		r.kill()
		for _, err := range r.errors() {
			tb.Errorf("reference server: %v", err)
		}
	})
	return r
}

func (r *refServer) addr() string { return r.ln.Addr().String() }

// kill closes the listener and every connection at once.
func (r *refServer) kill() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *refServer) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns[c] = true
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { r.mu.Lock(); delete(r.conns, c); r.mu.Unlock(); c.Close() }()
			if err := r.serve(c); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				r.mu.Lock()
				r.errs = append(r.errs, err)
				r.mu.Unlock()
			}
		}()
	}
}

func (r *refServer) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

func (r *refServer) got() ([]refEvent, []refMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]refEvent(nil), r.events...), append([]refMessage(nil), r.msgs...)
}

func sha512hex(parts ...string) string {
	h := sha512.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (r *refServer) handshake(c net.Conn, d *msgpack.Decoder) error {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	helo, _ := msgpack.Marshal([]any{"HELO", map[string]any{"nonce": nonce, "auth": "", "keepalive": true}})
	if _, err := c.Write(helo); err != nil {
		return err
	}
	var ping []string
	if err := d.Decode(&ping); err != nil {
		return fmt.Errorf("PING: %w", err)
	}
	if len(ping) != 6 || ping[0] != "PING" {
		return fmt.Errorf("bad PING %q", ping)
	}
	if ping[3] != sha512hex(ping[2], ping[1], string(nonce), r.sharedKey) {
		pong, _ := msgpack.Marshal([]any{"PONG", false, "shared_key mismatch", "", ""})
		c.Write(pong)
		return io.EOF
	}
	pong, _ := msgpack.Marshal([]any{"PONG", true, "", "ref", sha512hex(ping[2], "ref", string(nonce), r.sharedKey)})
	_, err := c.Write(pong)
	return err
}

func (r *refServer) serve(c net.Conn) error {
	d := msgpack.NewDecoder(c)
	if r.sharedKey != "" {
		if err := r.handshake(c, d); err != nil {
			return err
		}
	}
	for {
		n, err := d.DecodeArrayLen()
		if err != nil {
			return err
		}
		if n != 3 {
			return fmt.Errorf("message of %d elements, this reference server takes PackedForward only", n)
		}
		tag, err := d.DecodeString()
		if err != nil {
			return err
		}
		entries, err := d.DecodeBytes()
		if err != nil {
			return err
		}
		var opt struct {
			Size       int    `msgpack:"size"`
			Chunk      string `msgpack:"chunk"`
			Compressed string `msgpack:"compressed"`
		}
		if err := d.Decode(&opt); err != nil {
			return err
		}
		if opt.Compressed == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(entries))
			if err != nil {
				return err
			}
			if entries, err = io.ReadAll(zr); err != nil {
				return err
			}
		}
		evs, err := decodeEntries(tag, entries)
		if err != nil {
			return err
		}
		r.mu.Lock()
		if r.noAck > 0 {
			r.noAck--
			r.mu.Unlock()
			return nil // read, then the connection dies: the ack is lost
		}
		r.events = append(r.events, evs...)
		r.msgs = append(r.msgs, refMessage{Size: opt.Size, Chunk: opt.Chunk, Compressed: opt.Compressed, Events: len(evs)})
		r.mu.Unlock()
		if opt.Chunk != "" {
			ack, _ := msgpack.Marshal(map[string]string{"ack": opt.Chunk})
			if _, err := c.Write(ack); err != nil {
				return err
			}
		}
	}
}

// decodeEntries decodes a stream of [time, record] entries.
func decodeEntries(tag string, b []byte) ([]refEvent, error) {
	d := msgpack.NewDecoder(bytes.NewReader(b))
	var out []refEvent
	for {
		n, err := d.DecodeArrayLen()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if n != 2 {
			return nil, fmt.Errorf("entry of %d elements", n)
		}
		ev := refEvent{Tag: tag}
		code, err := d.PeekCode()
		if err != nil {
			return nil, err
		}
		if msgpcode.IsExt(code) {
			typ, l, err := d.DecodeExtHeader()
			if err != nil {
				return nil, err
			}
			if typ != 0 || l != 8 {
				return nil, fmt.Errorf("time ext type %d of %d bytes", typ, l)
			}
			var b [8]byte
			if err := d.ReadFull(b[:]); err != nil {
				return nil, err
			}
			ev.EventTime, ev.Sec, ev.Nsec = true, binary.BigEndian.Uint32(b[:4]), binary.BigEndian.Uint32(b[4:])
		} else {
			t, err := d.DecodeInt64()
			if err != nil {
				return nil, err
			}
			ev.Sec = uint32(t)
		}
		if ev.Record, err = d.DecodeMap(); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
