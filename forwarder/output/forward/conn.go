package forward

// This file opens connections to servers: name resolution (cached for
// expire_dns_cache), TCP, TLS and the shared_key handshake.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// clientTLS builds the TLS client configuration of t (nil when t is nil).
func clientTLS(t *TLSConfig) (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// resolve returns the address to dial for s: its host resolved now, or
// the cached address while younger than expire_dns_cache.
func (o *Output) resolve(ctx context.Context, s *server) (string, error) {
	if net.ParseIP(s.cfg.Host) != nil {
		return s.cfg.addr(), nil
	}
	now := o.now()
	s.mu.Lock()
	if o.cfg.ExpireDNSCache > 0 && s.dnsAddr != "" && now.Sub(s.dnsAt) < o.cfg.ExpireDNSCache {
		a := s.dnsAddr
		s.mu.Unlock()
		return a, nil
	}
	s.mu.Unlock()
	ips, err := o.lookup(ctx, s.cfg.Host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", s.cfg.Host, err)
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("resolve %s: no address", s.cfg.Host)
	}
	a := net.JoinHostPort(ips[0], strconv.Itoa(s.cfg.Port))
	s.mu.Lock()
	s.dnsAddr, s.dnsAt = a, now
	s.mu.Unlock()
	return a, nil
}

// dialTCP resolves s's host and connects to it.
func (o *Output) dialTCP(ctx context.Context, s *server) (net.Conn, error) {
	addr, err := o.resolve(ctx, s)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", s.cfg.label(), err)
	}
	return c, nil
}

// connect opens a connection to s: TCP, then TLS when configured and, with
// handshake, the shared_key handshake when a key is set. The whole is
// bounded by connect_timeout.
func (o *Output) connect(ctx context.Context, s *server, handshakeToo bool) (net.Conn, *Responses, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.ConnectTimeout)
	defer cancel()
	c, err := o.dialTCP(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	if o.tls != nil {
		tc := o.tls.Clone()
		if tc.ServerName == "" {
			tc.ServerName = s.cfg.Host
		}
		tlc := tls.Client(c, tc)
		if err := tlc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("tls handshake with %s: %w", s.cfg.label(), err)
		}
		c = tlc
	}
	rs := NewResponses(c)
	if handshakeToo && s.cred.sharedKey != "" {
		dl, _ := ctx.Deadline()
		stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
		err := handshake(c, rs, s.cred, dl)
		stop()
		if err != nil {
			c.Close()
			if errors.Is(err, ErrAuth) {
				return nil, nil, fmt.Errorf("%s: %w", s.cfg.label(), err)
			}
			return nil, nil, fmt.Errorf("handshake with %s: %w", s.cfg.label(), err)
		}
	}
	return c, rs, nil
}
