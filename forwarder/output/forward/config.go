package forward

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Server is one forward-protocol receiver (Fluentd's <server>).
type Server struct {
	Host string `yaml:"host"` // name or address, re-resolved on every connection
	Port int    `yaml:"port"` // default 24224
	// Name labels the server in logs and metrics (default host:port).
	Name string `yaml:"name"`
	// Weight is the server's share of chunks among the available servers
	// of its kind (default 60, as Fluentd; 0 takes none while another
	// server of its kind is available).
	Weight *int `yaml:"weight"`
	// Standby servers take chunks only while no active server is
	// available.
	Standby bool `yaml:"standby"`
	// SharedKey, Username and Password override the output's for this
	// server (Fluentd's <server> shared_key, username, password).
	SharedKey string `yaml:"shared_key"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
}

// addr is host:port.
func (s Server) addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// label is Name or host:port.
func (s Server) label() string {
	if s.Name != "" {
		return s.Name
	}
	return s.addr()
}

func (s Server) weight() int {
	if s.Weight == nil {
		return DefaultWeight
	}
	return *s.Weight
}

// TLSConfig is the client side of TLS (Fluentd's transport tls).
type TLSConfig struct {
	// CAFile is a PEM bundle the server certificate must chain to
	// (default: the system roots).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate, for servers that
	// require one.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified (default: the server's host).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate (tests only; Fluentd's
	// tls_insecure_mode).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Heartbeat types.
const (
	HeartbeatTransport = "transport" // connect like a send (TCP, TLS and shared_key handshake when configured)
	HeartbeatTCP       = "tcp"       // plain TCP connect
	HeartbeatNone      = "none"      // none: a failed server is tried again after recover_wait
)

// Compression of the entries.
const (
	CompressText = "text" // PackedForward
	CompressGzip = "gzip" // CompressedPackedForward
)

// DefaultWeight is a server's weight when none is set (Fluentd's).
const DefaultWeight = 60

// Config configures a forward Output (Fluentd out_forward's settings, by
// the same names).
type Config struct {
	Servers []Server `yaml:"servers"`
	// RequireAckResponse sends each chunk with a chunk id and deletes it
	// from the disk buffer only after the server's ack. nil means true:
	// unlike Fluentd (default false) the forwarder keeps what it read
	// until a server has it; false deletes a chunk once it is written to
	// the socket, and a server dying then loses it.
	RequireAckResponse *bool `yaml:"require_ack_response"`
	// AckResponseTimeout is how long an ack is awaited; then the server
	// is marked down and the chunk is sent again (default 190s, Fluentd's).
	AckResponseTimeout time.Duration `yaml:"ack_response_timeout"`
	// Compress is "text" (PackedForward, default) or "gzip"
	// (CompressedPackedForward).
	Compress string `yaml:"compress"`
	// TimeAsInteger sends integer times instead of EventTime.
	TimeAsInteger bool `yaml:"time_as_integer"`
	// KeepTimeKey keeps the record's "time" key (the stored TD record's
	// event time); by default it is removed, the time travelling as the
	// entry's time, as a td-agent forwarder sends it.
	KeepTimeKey bool `yaml:"keep_time_key"`
	// ConnectTimeout bounds a connection with its TLS and shared_key
	// handshakes (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// SendTimeout bounds writing one chunk (default 60s, Fluentd's).
	SendTimeout time.Duration `yaml:"send_timeout"`
	// HeartbeatType is "transport" (default), "tcp" or "none".
	HeartbeatType string `yaml:"heartbeat_type"`
	// HeartbeatInterval is the time between heartbeats (default 1s).
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// RecoverWait is how long a failed server must answer heartbeats
	// before it takes chunks again (with heartbeat_type none: how long
	// after its failure it is tried again); default 10s.
	RecoverWait time.Duration `yaml:"recover_wait"`
	// ExpireDNSCache caches a server's resolved address this long; 0
	// (default) resolves the name on every connection and heartbeat.
	ExpireDNSCache time.Duration `yaml:"expire_dns_cache"`
	// SharedKey enables the HELO/PING/PONG handshake for every server.
	SharedKey string `yaml:"shared_key"`
	// SelfHostname is sent in PING (default: os.Hostname).
	SelfHostname string `yaml:"self_hostname"`
	// Username and Password answer servers that require user
	// authentication.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS enables TLS to every server.
	TLS *TLSConfig `yaml:"tls"`
	// Concurrency is the number of chunks in flight (default 2).
	Concurrency int `yaml:"concurrency"`
	// MinBackoff and MaxBackoff bound the wait after a failed attempt
	// (doubled per consecutive failure; default 1s and 1m).
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// DefaultConfig returns Fluentd's defaults where it has them, with
// require_ack_response on; no servers.
func DefaultConfig() Config {
	return Config{
		RequireAckResponse: ptr(true),
		AckResponseTimeout: 190 * time.Second,
		Compress:           CompressText,
		ConnectTimeout:     10 * time.Second,
		SendTimeout:        60 * time.Second,
		HeartbeatType:      HeartbeatTransport,
		HeartbeatInterval:  time.Second,
		RecoverWait:        10 * time.Second,
		Concurrency:        2,
		MinBackoff:         time.Second,
		MaxBackoff:         time.Minute,
	}
}

func ptr[T any](v T) *T { return &v }

// WithDefaults fills every zero field of c from DefaultConfig, and each
// server's zero port with 24224.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.RequireAckResponse == nil {
		c.RequireAckResponse = d.RequireAckResponse
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.AckResponseTimeout, d.AckResponseTimeout)
	setDur(&c.ConnectTimeout, d.ConnectTimeout)
	setDur(&c.SendTimeout, d.SendTimeout)
	setDur(&c.HeartbeatInterval, d.HeartbeatInterval)
	setDur(&c.RecoverWait, d.RecoverWait)
	setDur(&c.MinBackoff, d.MinBackoff)
	setDur(&c.MaxBackoff, d.MaxBackoff)
	if c.Compress == "" {
		c.Compress = d.Compress
	}
	if c.HeartbeatType == "" {
		c.HeartbeatType = d.HeartbeatType
	}
	if c.Concurrency == 0 {
		c.Concurrency = d.Concurrency
	}
	c.Servers = append([]Server(nil), c.Servers...)
	for i := range c.Servers {
		if c.Servers[i].Port == 0 {
			c.Servers[i].Port = 24224
		}
	}
	return c
}

// ackRequired is RequireAckResponse with its default (true).
func (c Config) ackRequired() bool { return c.RequireAckResponse == nil || *c.RequireAckResponse }

// Validate reports every problem of c, each prefixed with its field path.
func (c Config) Validate() error {
	var errs []error
	if len(c.Servers) == 0 {
		errs = append(errs, errors.New("servers: at least one server is required"))
	}
	active, labels := 0, map[string]bool{}
	for i, s := range c.Servers {
		p := fmt.Sprintf("servers[%d]", i)
		if s.Host == "" {
			errs = append(errs, fmt.Errorf("%s.host: required", p))
		}
		if s.Port < 1 || s.Port > 65535 {
			errs = append(errs, fmt.Errorf("%s.port: %d is not in 1..65535", p, s.Port))
		}
		if s.weight() < 0 {
			errs = append(errs, fmt.Errorf("%s.weight: %d must not be negative", p, s.weight()))
		}
		if labels[s.label()] {
			errs = append(errs, fmt.Errorf("%s: %q is listed twice (set name to tell them apart)", p, s.label()))
		}
		labels[s.label()] = true
		if !s.Standby {
			active++
		}
		if (s.Username != "" || s.Password != "") && s.SharedKey == "" && c.SharedKey == "" {
			errs = append(errs, fmt.Errorf("%s.username: needs shared_key", p))
		}
	}
	if len(c.Servers) > 0 && active == 0 {
		errs = append(errs, errors.New("servers: every server is a standby; at least one must be active"))
	}
	if (c.Username != "" || c.Password != "") && c.SharedKey == "" {
		errs = append(errs, errors.New("username: needs shared_key"))
	}
	if c.Compress != CompressText && c.Compress != CompressGzip {
		errs = append(errs, fmt.Errorf("compress: %q is neither %q nor %q", c.Compress, CompressText, CompressGzip))
	}
	switch c.HeartbeatType {
	case HeartbeatTransport, HeartbeatTCP, HeartbeatNone:
	default:
		errs = append(errs, fmt.Errorf("heartbeat_type: %q is not %q, %q or %q (udp is not supported)", c.HeartbeatType, HeartbeatTransport, HeartbeatTCP, HeartbeatNone))
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %v must be positive", name, d))
		}
	}
	positive("ack_response_timeout", c.AckResponseTimeout)
	positive("connect_timeout", c.ConnectTimeout)
	positive("send_timeout", c.SendTimeout)
	positive("heartbeat_interval", c.HeartbeatInterval)
	positive("recover_wait", c.RecoverWait)
	if c.ExpireDNSCache < 0 {
		errs = append(errs, fmt.Errorf("expire_dns_cache: %v must not be negative", c.ExpireDNSCache))
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		errs = append(errs, fmt.Errorf("concurrency: %d is not in 1..64", c.Concurrency))
	}
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, fmt.Errorf("min_backoff, max_backoff: need 0 < %v <= %v", c.MinBackoff, c.MaxBackoff))
	}
	if t := c.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	return errors.Join(errs...)
}
