package forward

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	w := func(n int) *int { return &n }
	ok := Config{Servers: []Server{{Host: "a"}, {Host: "b", Standby: true}}}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string // each must appear; none: valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"no servers", func(c *Config) { c.Servers = nil }, []string{"servers: at least one"}},
		{"only standbys", func(c *Config) { c.Servers[0].Standby = true }, []string{"every server is a standby"}},
		{"server fields", func(c *Config) {
			c.Servers = append(c.Servers, Server{Port: 70000, Weight: w(-1)}, Server{Host: "a", Port: 24224})
		}, []string{"servers[2].host: required", "servers[2].port: 70000", "servers[2].weight: -1", `servers[3]: "a:24224" is listed twice`}},
		{"user without key", func(c *Config) { c.Username = "u" }, []string{"username: needs shared_key"}},
		{"server user without key", func(c *Config) { c.Servers[1].Username = "u" }, []string{"servers[1].username: needs shared_key"}},
		{"enums", func(c *Config) { c.Compress, c.HeartbeatType = "zstd", "udp" }, []string{`compress: "zstd"`, `heartbeat_type: "udp"`}},
		{"durations", func(c *Config) { c.AckResponseTimeout, c.ExpireDNSCache, c.MinBackoff = -1, -time.Second, time.Hour },
			[]string{"ack_response_timeout", "expire_dns_cache", "min_backoff, max_backoff"}},
		{"tls pair", func(c *Config) { c.TLS = &TLSConfig{CertFile: "c.pem"} }, []string{"tls: cert_file and key_file go together"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Servers = append([]Server(nil), ok.Servers...)
			c = c.WithDefaults()
			tc.mod(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{Servers: []Server{{Host: "a"}}}.WithDefaults()
	d := DefaultConfig()
	if c.Servers[0].Port != 24224 || c.Servers[0].weight() != DefaultWeight || !c.ackRequired() ||
		c.AckResponseTimeout != d.AckResponseTimeout || c.HeartbeatType != HeartbeatTransport || c.RecoverWait != d.RecoverWait {
		t.Errorf("defaults not filled: %+v", c)
	}
	off := false
	if c := (Config{RequireAckResponse: &off}).WithDefaults(); c.ackRequired() {
		t.Error("require_ack_response: false overridden by the default")
	}
}
