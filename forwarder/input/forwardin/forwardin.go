// Package forwardin owns the forwarder's forward source: a Fluentd forward
// protocol v1 server (Message, Forward, PackedForward and
// CompressedPackedForward modes, EventTime, chunk acks, the shared_key
// handshake, TLS, the UDP heartbeat) that hands records to an intake.Appender.
//
// Behaviour and limits:
//   - Each record's time (integer, float or EventTime; 0 means now) becomes
//     its integer "time" key, replacing any "time" the record had; the
//     other pairs are copied byte for byte.
//   - {"ack": chunk} is written only after intake.Appender.Append returned nil.
//   - On intake.ErrFull or any intake error no ack is written and the
//     connection is closed, so the client resends.
//   - A tag that no route accepts (the intake returns intake.ErrUnroutable;
//     without routes, any tag that is not td.<db>.<table> with valid
//     names) is refused like an intake
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
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillwayhq/spillway/forwarder/intake"
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

// DefaultConfig returns the defaults: 127.0.0.1:24224, 64 MiB messages,
// 256 MiB of inflated CompressedPackedForward entries, a 10m idle timeout
// and this host's name in PONG; no shared key, users, TLS or heartbeat.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Addr:                 "127.0.0.1:24224",
		MaxMessageBytes:      64 << 20,
		MaxDecompressedBytes: 256 << 20,
		IdleTimeout:          10 * time.Minute,
		SelfHostname:         host,
	}
}

// Validate reports every problem of cfg at once, each prefixed with its
// field name.
func (cfg Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr: %w", err))
	}
	if cfg.MaxMessageBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_message_bytes: %d must be positive", cfg.MaxMessageBytes))
	}
	if cfg.MaxDecompressedBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_decompressed_bytes: %d must be positive", cfg.MaxDecompressedBytes))
	}
	if cfg.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("idle_timeout: %v must be positive", cfg.IdleTimeout))
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

// New builds a Server that hands records to s; cfg (start from
// DefaultConfig) must be valid.
func New(cfg Config, s intake.Appender, logger *slog.Logger) (*Server, error) {
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
