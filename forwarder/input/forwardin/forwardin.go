// Package forwardin owns the forwarder's forward source: a Fluentd forward
// protocol v1 server (Message, Forward, PackedForward and
// CompressedPackedForward modes, EventTime, chunk acks, the shared_key
// handshake, TLS, the UDP heartbeat) that hands records to an intake.Appender.
//
// Behaviour and limits:
//   - Each record's time (integer, float or EventTime; 0 means now) becomes
//     its integer "time" key, replacing any "time" the record had; the
//     other pairs are copied byte for byte.
//   - {"ack": chunk} is written only after Sink.Append returned nil.
//   - On intake.ErrFull or any intake error no ack is written and the
//     connection is closed, so the client resends.
//   - A tag that no route accepts (until routing exists: any tag that is
//     not td.<db>.<table> with valid names) is refused like an intake
//     failure: nothing is stored, no ack is written and the connection is
//     closed, so the client sees the refusal at once (a client waiting for
//     an ack without a read timeout, fluent-logger-golang's default, would
//     otherwise wait forever). The events are counted (Stats.Unroutable)
//     and logged. A 2xx or an ack is a promise: events are never acked and
//     dropped.
//   - Entries whose record is not a map, or whose time is not a number or
//     EventTime, are skipped and counted (Stats.Invalid); nil records are
//     skipped silently, as in Fluentd.
//   - A message over MaxMessageBytes, a CompressedPackedForward over
//     MaxDecompressedBytes once inflated, or bytes that are not msgpack
//     (or JSON, for JSON connections) close the connection.
//   - With SharedKey set, the server sends HELO, checks PING (and users,
//     when configured) and answers PONG; a failed check answers
//     PONG false with the reason and closes.
package forwardin

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/intake"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// User is one user of the handshake's user authentication.
type User struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// TLSConfig enables TLS on the forward port.
type TLSConfig struct {
	// CertFile and KeyFile are PEM files of the server certificate.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, requires client certificates signed by it.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Config configures the forward source.
type Config struct {
	// Addr is where the forwarder listens (default 127.0.0.1:24224);
	// Serve takes the listener, so this is for the caller (the heartbeat
	// UDP socket uses the same address).
	Addr string `yaml:"addr"`
	// MaxMessageBytes limits one forward message as received (default
	// 64 MiB).
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxDecompressedBytes limits one CompressedPackedForward entries
	// stream once inflated (default 256 MiB).
	MaxDecompressedBytes int64 `yaml:"max_decompressed_bytes"`
	// IdleTimeout closes connections silent for this long (default 10m).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// SharedKey enables the HELO/PING/PONG handshake.
	SharedKey string `yaml:"shared_key"`
	// SelfHostname is sent in PONG (default: os.Hostname).
	SelfHostname string `yaml:"self_hostname"`
	// Users enables user authentication in the handshake (needs SharedKey).
	Users []User `yaml:"users"`
	// TLS enables TLS.
	TLS *TLSConfig `yaml:"tls"`
	// Heartbeat answers UDP heartbeats on Addr (see ServeHeartbeat).
	Heartbeat bool `yaml:"heartbeat"`
}

// Defaults fills the zero fields of cfg.
func Defaults(cfg Config) Config {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:24224"
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 64 << 20
	}
	if cfg.MaxDecompressedBytes == 0 {
		cfg.MaxDecompressedBytes = 256 << 20
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.SelfHostname == "" {
		cfg.SelfHostname, _ = os.Hostname()
	}
	return cfg
}

// Validate reports every problem of cfg at once.
func (cfg Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr: %w", err))
	}
	if cfg.MaxMessageBytes < 0 {
		errs = append(errs, errors.New("max_message_bytes: must not be negative"))
	}
	if cfg.MaxDecompressedBytes < 0 {
		errs = append(errs, errors.New("max_decompressed_bytes: must not be negative"))
	}
	if cfg.IdleTimeout < 0 {
		errs = append(errs, errors.New("idle_timeout: must not be negative"))
	}
	if len(cfg.Users) > 0 && cfg.SharedKey == "" {
		errs = append(errs, errors.New("users: need shared_key"))
	}
	for i, u := range cfg.Users {
		if u.Username == "" {
			errs = append(errs, fmt.Errorf("users[%d].username: required", i))
		}
	}
	if cfg.TLS != nil {
		if cfg.TLS.CertFile == "" || cfg.TLS.KeyFile == "" {
			errs = append(errs, errors.New("tls: cert_file and key_file are required"))
		}
	}
	return errors.Join(errs...)
}

// Stats are the source's counters since start.
type Stats struct {
	Connections uint64 // connections accepted
	Messages    uint64 // forward messages decoded
	Records     uint64 // records handed to the intake
	Acks        uint64 // acks written
	Invalid     uint64 // entries skipped (record not a map, bad time)
	Unroutable  uint64 // records refused (not acked, connection closed) for a tag no route accepts: not td.<db>.<table>
	Refused     uint64 // messages not stored (intake full or failing); connection closed
	Protocol    uint64 // connections closed for a protocol error or limit
	AuthFailed  uint64 // handshakes refused
}

// Server is the forward source.
type Server struct {
	cfg    Config
	intake intake.Appender
	log    *slog.Logger
	tls    *tls.Config

	mu       sync.Mutex
	closing  bool
	lns      map[net.Listener]struct{}
	pcs      map[net.PacketConn]struct{}
	conns    map[net.Conn]struct{}
	handlers sync.WaitGroup

	st struct {
		connections, messages, records, acks, invalid, unroutable, refused, protocol, authFailed atomic.Uint64
	}
	now func() time.Time
}

// New builds a Server (after Defaults) that hands records to s.
func New(cfg Config, s intake.Appender, logger *slog.Logger) (*Server, error) {
	cfg = Defaults(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("forward source config: %w", err)
	}
	if s == nil {
		return nil, errors.New("forward source: nil intake")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &Server{cfg: cfg, intake: s, log: logger.With("source", "forward"),
		lns: map[net.Listener]struct{}{}, pcs: map[net.PacketConn]struct{}{}, conns: map[net.Conn]struct{}{}, now: time.Now}
	if cfg.TLS != nil {
		tc, err := loadTLS(cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("forward source tls: %w", err)
		}
		srv.tls = tc
	}
	return srv, nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections: s.st.connections.Load(), Messages: s.st.messages.Load(), Records: s.st.records.Load(),
		Acks: s.st.acks.Load(), Invalid: s.st.invalid.Load(), Unroutable: s.st.unroutable.Load(),
		Refused: s.st.refused.Load(), Protocol: s.st.protocol.Load(), AuthFailed: s.st.authFailed.Load(),
	}
}

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
var errUnroutable = errors.New("records refused: no route accepts the tag (tags must be td.<database>.<table>)")

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

// decoded is one forward message's content.
type decoded struct {
	tag     string
	records []byte // concatenated msgpack maps with an integer "time"
	count   int
	chunk   []byte // option chunk (nil: no ack wanted)
}

// DecodeMessage decodes one complete msgpack forward message (Message,
// Forward, PackedForward or CompressedPackedForward mode) into the
// concatenated records (appended to dst, each with an integer "time"; time
// 0 becomes now), their count, the tag and the option chunk (nil when no
// ack is requested). Invalid entries are skipped; an error means the
// message itself is malformed.
func DecodeMessage(msg, dst []byte, now int64, maxDecompressed int64) (tag string, records []byte, count int, chunk []byte, err error) {
	s := &Server{cfg: Config{MaxDecompressedBytes: maxDecompressed}}
	if n, err := objLen(msg); err != nil || n != len(msg) {
		return "", dst, 0, nil, fmt.Errorf("message is not exactly one msgpack object")
	}
	d, err := s.decodeMessage(msg, dst, now)
	return d.tag, d.records, d.count, d.chunk, err
}

func (s *Server) decodeMessage(msg, dst []byte, now int64) (decoded, error) {
	d := decoded{records: dst}
	n, body, ok := arrayLen(msg)
	if !ok || n < 2 || n > 4 {
		return d, fmt.Errorf("message is not an array of 2 to 4 elements")
	}
	tagObj, body, err := split(body)
	if err != nil {
		return d, err
	}
	tagB, ok := rawString(tagObj)
	if !ok {
		return d, fmt.Errorf("tag is not a string")
	}
	d.tag = string(tagB)
	second, body, err := split(body)
	if err != nil {
		return d, err
	}
	var entries, record, optObj []byte
	mode := ""
	switch {
	case isArray(second):
		mode, entries = "forward", second
	case isStrOrBin(second):
		mode, entries = "packed", second
	default:
		mode = "message"
		if n < 3 {
			return d, fmt.Errorf("message mode needs a record")
		}
		if record, body, err = split(body); err != nil {
			return d, err
		}
		n--
	}
	if n >= 3 {
		if optObj, _, err = split(body); err != nil {
			return d, err
		}
	}
	opt := parseOption(optObj)
	d.chunk = opt.chunk
	add := func(timeObj, rec []byte) {
		if isNil(rec) {
			return
		}
		t, err := tdrecord.RawSeconds(timeObj)
		if err != nil || !isMap(rec) {
			s.st.invalid.Add(1)
			return
		}
		if t == 0 {
			t = now
		}
		out, err := tdrecord.AppendRawRecord(d.records, rec, t)
		if err != nil {
			s.st.invalid.Add(1)
			return
		}
		d.records = out
		d.count++
	}
	switch mode {
	case "message":
		add(second, record)
	case "forward":
		k, es, _ := arrayLen(entries)
		for i := 0; i < k; i++ {
			var e []byte
			if e, es, err = split(es); err != nil {
				return d, err
			}
			if err := addEntry(e, add, s); err != nil {
				return d, err
			}
		}
	case "packed":
		stream, _ := rawString(entries)
		if opt.compressed == "gzip" {
			if stream, err = gunzip(stream, s.cfg.MaxDecompressedBytes); err != nil {
				return d, err
			}
		}
		for len(stream) > 0 {
			var e []byte
			if e, stream, err = split(stream); err != nil {
				return d, fmt.Errorf("packed entries: %w", err)
			}
			if err := addEntry(e, add, s); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}

func addEntry(e []byte, add func(t, r []byte), s *Server) error {
	k, eb, ok := arrayLen(e)
	if !ok || k < 2 {
		s.st.invalid.Add(1)
		return nil
	}
	t, eb, err := split(eb)
	if err != nil {
		return err
	}
	r, _, err := split(eb)
	if err != nil {
		return err
	}
	// Fluent Bit's v2 event format puts [time, metadata] where the time goes.
	if k, tb, ok := arrayLen(t); ok && k >= 1 {
		if t, _, err = split(tb); err != nil {
			return err
		}
	}
	add(t, r)
	return nil
}

// store hands cn.out to the intake and acks when asked.
func (cn *conn) store(tag string, count int, chunk []byte, jsonAck bool) error {
	s := cn.s
	if count > 0 {
		if _, _, err := names.ParseTag(tag); err != nil {
			s.st.unroutable.Add(uint64(count))
			return fmt.Errorf("%w: %d records: %w", errUnroutable, count, err)
		}
		if err := s.intake.Append(context.Background(), tag, cn.out, count); err != nil {
			s.st.refused.Add(1)
			return fmt.Errorf("%w: %d records for %s: %w", errRefused, count, tag, err)
		}
		s.st.records.Add(uint64(count))
	}
	if chunk == nil {
		return nil
	}
	var ack []byte
	if jsonAck {
		ack = append(append([]byte(`{"ack":`), jsonString(chunk)...), '}')
	} else {
		ack = appendStr([]byte{0x81, 0xa3, 'a', 'c', 'k'}, string(chunk))
	}
	cn.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	s.st.acks.Add(1) // counted before the write so a client that saw it sees the count
	if _, err := cn.c.Write(ack); err != nil {
		return fmt.Errorf("write ack: %w", err)
	}
	return nil
}

type option struct {
	chunk      []byte
	compressed string
}

func parseOption(obj []byte) option {
	var o option
	n, body, ok := mapLen(obj)
	if !ok {
		return o
	}
	for i := 0; i < n; i++ {
		k, r, err := split(body)
		if err != nil {
			return o
		}
		v, r2, err := split(r)
		if err != nil {
			return o
		}
		body = r2
		ks, _ := rawString(k)
		switch string(ks) {
		case "chunk":
			if vs, ok := rawString(v); ok {
				o.chunk = append([]byte{}, vs...)
			}
		case "compressed":
			if vs, ok := rawString(v); ok {
				o.compressed = string(vs)
			}
		}
	}
	return o
}

func isStrOrBin(obj []byte) bool {
	_, ok := rawString(obj)
	return ok
}

func gunzip(b []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("compressed entries: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("compressed entries: %w", err)
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("%w: entries inflate to more than %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}

// errAuth: the client failed the shared key or user check.
var errAuth = errors.New("authentication failed")

// handshake runs HELO / PING / PONG (Forward Protocol Specification v1).
func (cn *conn) handshake() error {
	s := cn.s
	nonce := make([]byte, 16)
	rand.Read(nonce)
	authSalt := []byte{}
	if len(s.cfg.Users) > 0 {
		authSalt = make([]byte, 16)
		rand.Read(authSalt)
	}
	helo, err := msgpack.Marshal([]any{"HELO", map[string]any{"nonce": nonce, "auth": authSalt, "keepalive": true}})
	if err != nil {
		return err
	}
	cn.c.SetDeadline(time.Now().Add(30 * time.Second))
	defer cn.c.SetDeadline(time.Time{})
	if _, err := cn.c.Write(helo); err != nil {
		return fmt.Errorf("write HELO: %w", err)
	}
	raw, err := cn.readObject(64 << 10)
	if err != nil {
		return fmt.Errorf("read PING: %w", err)
	}
	var ping []any
	if err := msgpack.Unmarshal(raw, &ping); err != nil {
		return fmt.Errorf("decode PING: %w", err)
	}
	salt, reason := cn.checkPing(ping, nonce, authSalt)
	var pong []any
	if reason != "" {
		pong = []any{"PONG", false, reason, "", ""}
	} else {
		pong = []any{"PONG", true, "", s.cfg.SelfHostname, digest(salt, s.cfg.SelfHostname, string(nonce), s.cfg.SharedKey)}
	}
	b, err := msgpack.Marshal(pong)
	if err != nil {
		return err
	}
	if reason != "" {
		s.st.authFailed.Add(1) // before the PONG, so a client that saw it sees the count
	}
	if _, err := cn.c.Write(b); err != nil {
		return fmt.Errorf("write PONG: %w", err)
	}
	if reason != "" {
		return fmt.Errorf("%w: %s", errAuth, reason)
	}
	return nil
}

func (cn *conn) checkPing(ping []any, nonce, authSalt []byte) (salt, reason string) {
	str := func(v any) string {
		switch t := v.(type) {
		case string:
			return t
		case []byte:
			return string(t)
		}
		return ""
	}
	if len(ping) != 6 || str(ping[0]) != "PING" {
		return "", "invalid ping message"
	}
	hostname, salt, keyDigest, username, passDigest := str(ping[1]), str(ping[2]), str(ping[3]), str(ping[4]), str(ping[5])
	want := digest(salt, hostname, string(nonce), cn.s.cfg.SharedKey)
	if subtle.ConstantTimeCompare([]byte(keyDigest), []byte(want)) != 1 {
		return "", "shared_key mismatch"
	}
	if len(cn.s.cfg.Users) > 0 {
		ok := false
		for _, u := range cn.s.cfg.Users {
			if u.Username == username {
				w := digest(string(authSalt), username, u.Password)
				ok = subtle.ConstantTimeCompare([]byte(passDigest), []byte(w)) == 1
				break
			}
		}
		if !ok {
			return "", "username/password mismatch"
		}
	}
	return salt, ""
}

// digest is hex(sha512(parts...)).
func digest(parts ...string) string {
	h := sha512.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}
