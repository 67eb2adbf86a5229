package forwardin

// This file holds the listener and connection lifecycle: accepting,
// shutdown, the UDP heartbeat, framing msgpack messages on a connection.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// ErrClosed is returned by Serve and ServeHeartbeat after Shutdown began.
var ErrClosed = errors.New("forward source closed")

// Serve accepts connections on ln (wrapped in TLS when configured) until
// Shutdown; it returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay) // back off on accept errors (e.g. EMFILE)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		delay = 0
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.handlers.Add(1)
		s.mu.Unlock()
		s.st.connections.Add(1)
		go func() {
			defer s.handlers.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.handle(c)
		}()
	}
}

// ServeHeartbeat answers Fluentd's UDP heartbeats (any datagram gets a
// one-byte "\x00" back) on pc until Shutdown.
func (s *Server) ServeHeartbeat(pc net.PacketConn) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		pc.Close()
		return ErrClosed
	}
	s.pcs[pc] = struct{}{}
	s.mu.Unlock()
	buf := make([]byte, 128)
	for {
		_, addr, err := pc.ReadFrom(buf)
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			return fmt.Errorf("heartbeat read: %w", err)
		}
		if _, err := pc.WriteTo([]byte{0}, addr); err != nil {
			s.log.Info("heartbeat reply failed", "remote", addr.String(), "err", err)
		}
	}
}

// Shutdown stops accepting, lets each connection finish the message it is
// storing, and closes it. Connections still busy when ctx ends are closed
// hard (their unacked messages will be resent by the clients).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.lns {
		ln.Close()
	}
	for pc := range s.pcs {
		pc.Close()
	}
	for c := range s.conns {
		// Wake readers; a handler in the middle of Append finishes it.
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// armRead sets the idle read deadline unless Shutdown began; under s.mu, so
// Shutdown's "deadline now" always wins over it.
func (cn *conn) armRead() bool {
	s := cn.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	cn.c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	return true
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// conn is one client connection.
type conn struct {
	s      *Server
	c      net.Conn
	r      *bufio.Reader
	remote string
	buf    []byte // unconsumed received bytes (msgpack mode)
	out    []byte // records being built
}

func (s *Server) handle(c net.Conn) {
	cn := &conn{s: s, c: c, r: bufio.NewReaderSize(c, 64<<10), remote: c.RemoteAddr().String()}
	log := s.log.With("remote", cn.remote)
	if tc, ok := c.(*tls.Conn); ok {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			log.Info("tls handshake failed", "err", err)
			s.st.protocol.Add(1)
			return
		}
		c.SetDeadline(time.Time{})
	}
	if s.cfg.SharedKey != "" {
		if err := cn.handshake(); err != nil {
			if !errors.Is(err, errAuth) {
				s.st.protocol.Add(1)
			}
			log.Warn("forward handshake failed", "err", err)
			return
		}
	}
	if !cn.armRead() {
		return
	}
	first, err := cn.r.Peek(1)
	if err != nil {
		return
	}
	if first[0] == '[' || first[0] == '{' || first[0] == ' ' || first[0] == '\n' || first[0] == '\t' || first[0] == '\r' {
		err = cn.serveJSON()
	} else {
		err = cn.serveMsgpack()
	}
	switch {
	case err == nil, errors.Is(err, io.EOF), s.isClosing():
	case errors.Is(err, errRefused), errors.Is(err, errUnroutable):
		log.Warn("connection closed without ack", "err", err)
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			log.Info("idle connection closed")
			return
		}
		s.st.protocol.Add(1)
		log.Warn("forward protocol error, connection closed", "err", err)
	}
}

// errRefused: the intake did not take the records.
var errRefused = errors.New("records not stored")

// errUnroutable: no route accepts the message's tag.
var errUnroutable = errors.New("records refused: no route accepts the tag")

// ErrTooLarge is the protocol error for a message over a size limit.
var ErrTooLarge = errors.New("message over the size limit")

// serveMsgpack reads msgpack messages until EOF or an error.
func (cn *conn) serveMsgpack() error {
	s := cn.s
	chunk := make([]byte, 64<<10)
	for {
		n, err := objLen(cn.buf)
		if err == nil && n > s.cfg.MaxMessageBytes {
			return fmt.Errorf("%w: a %d byte message, limit %d", ErrTooLarge, n, s.cfg.MaxMessageBytes)
		}
		if err == nil {
			msg := cn.buf[:n]
			if perr := cn.process(msg); perr != nil {
				return perr
			}
			cn.buf = append(cn.buf[:0], cn.buf[n:]...)
			continue
		}
		if !errors.Is(err, errShort) {
			return fmt.Errorf("decode message: %w", err)
		}
		if len(cn.buf) >= s.cfg.MaxMessageBytes {
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.cfg.MaxMessageBytes)
		}
		if !cn.armRead() {
			return nil
		}
		m, rerr := cn.r.Read(chunk)
		cn.buf = append(cn.buf, chunk[:m]...)
		if rerr != nil {
			if errors.Is(rerr, io.EOF) && len(cn.buf) > 0 {
				return fmt.Errorf("connection closed inside a message: %w", io.ErrUnexpectedEOF)
			}
			return rerr
		}
	}
}

// readObject reads one complete msgpack object of at most limit bytes and
// removes it from cn.buf (the returned slice is a copy).
func (cn *conn) readObject(limit int) ([]byte, error) {
	chunk := make([]byte, 4096)
	for {
		n, err := objLen(cn.buf)
		if err == nil {
			obj := append([]byte(nil), cn.buf[:n]...)
			cn.buf = append(cn.buf[:0], cn.buf[n:]...)
			return obj, nil
		}
		if !errors.Is(err, errShort) {
			return nil, err
		}
		if len(cn.buf) >= limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		m, rerr := cn.r.Read(chunk)
		cn.buf = append(cn.buf, chunk[:m]...)
		if rerr != nil {
			return nil, rerr
		}
	}
}

// process handles one complete msgpack message.
func (cn *conn) process(msg []byte) error {
	cn.s.st.messages.Add(1)
	d, err := cn.s.decodeMessage(msg, cn.out[:0], cn.s.now().Unix())
	cn.out = d.records
	if err != nil {
		return err
	}
	return cn.store(d.tag, d.count, d.chunk, false)
}
