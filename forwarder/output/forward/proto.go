package forward

// This file decodes what a forward server answers (HELO, PONG, acks) and
// runs the client side of the shared_key handshake.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/tinylib/msgp/msgp"
	"github.com/vmihailenco/msgpack/v5"
)

// ErrAuth is wrapped by handshake failures: the server refused the shared
// key or the user, or its PONG did not prove it knows the key.
var ErrAuth = errors.New("forward handshake refused")

// maxResponse bounds one server answer (HELO, PONG, ack).
const maxResponse = 64 << 10

// budget is a reader that returns io.ErrUnexpectedEOF once n bytes were
// read, so one answer cannot make the decoder read without limit.
type budget struct {
	r io.Reader
	n int64
}

// Read reads from r within what is left of the budget.
func (b *budget) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, fmt.Errorf("server answer longer than %d bytes: %w", maxResponse, io.ErrUnexpectedEOF)
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}

// Responses decodes the msgpack objects a server writes on a connection.
// Each answer is first framed with msgp (every length it declares backed
// by bytes read, at most maxResponse of them) and only then decoded, so a
// header claiming billions of elements allocates nothing.
type Responses struct {
	lim *budget
	rd  *msgp.Reader
	raw bytes.Buffer
}

// NewResponses reads answers from r.
func NewResponses(r io.Reader) *Responses {
	lim := &budget{r: r}
	return &Responses{lim: lim, rd: msgp.NewReaderSize(lim, 4096)}
}

// Next decodes the next answer (at most maxResponse bytes).
func (rs *Responses) Next() (any, error) {
	rs.lim.n = maxResponse
	rs.raw.Reset()
	if _, err := rs.rd.CopyNext(&rs.raw); err != nil {
		if errors.Is(err, msgp.ErrShortBytes) {
			err = fmt.Errorf("%w (%w)", io.ErrUnexpectedEOF, err)
		}
		return nil, fmt.Errorf("read server answer: %w", err)
	}
	v, err := msgpack.NewDecoder(bytes.NewReader(rs.raw.Bytes())).DecodeInterfaceLoose()
	if err != nil {
		return nil, fmt.Errorf("decode server answer: %w", err)
	}
	return v, nil
}

func str(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case []byte:
		return string(t), true
	}
	return "", false
}

func field(m any, key string) (any, bool) {
	switch t := m.(type) {
	case map[string]any:
		v, ok := t[key]
		return v, ok
	case map[any]any:
		v, ok := t[key]
		return v, ok
	}
	return nil, false
}

// ParseAck returns the chunk id of an ack answer {"ack": id}.
func ParseAck(v any) (string, error) {
	if a, ok := v.([]any); ok && len(a) > 0 {
		if s, _ := str(a[0]); s == "HELO" {
			return "", fmt.Errorf("%w: the server sent HELO: it needs shared_key", ErrAuth)
		}
	}
	a, ok := field(v, "ack")
	if !ok {
		return "", fmt.Errorf("answer %.64v is not an ack", v)
	}
	s, ok := str(a)
	if !ok {
		return "", fmt.Errorf("ack %.64v is not a string", a)
	}
	return s, nil
}

// Helo is the server's HELO.
type Helo struct {
	Nonce    []byte
	AuthSalt []byte // empty when the server does not authenticate users
}

// ParseHelo decodes ["HELO", {"nonce", "auth", "keepalive"}].
func ParseHelo(v any) (Helo, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return Helo{}, fmt.Errorf("answer %.64v is not HELO", v)
	}
	if s, _ := str(a[0]); s != "HELO" {
		return Helo{}, fmt.Errorf("answer %.64v is not HELO", v)
	}
	var h Helo
	n, _ := field(a[1], "nonce")
	ns, ok := str(n)
	if !ok || ns == "" {
		return Helo{}, errors.New("HELO has no nonce")
	}
	h.Nonce = []byte(ns)
	if au, ok := field(a[1], "auth"); ok {
		s, _ := str(au)
		h.AuthSalt = []byte(s)
	}
	return h, nil
}

// Pong is the server's PONG.
type Pong struct {
	OK       bool
	Reason   string
	Hostname string
	Digest   string
}

// ParsePong decodes ["PONG", ok, reason, hostname, digest].
func ParsePong(v any) (Pong, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 5 {
		return Pong{}, fmt.Errorf("answer %.64v is not PONG", v)
	}
	if s, _ := str(a[0]); s != "PONG" {
		return Pong{}, fmt.Errorf("answer %.64v is not PONG", v)
	}
	var p Pong
	p.OK, _ = a[1].(bool)
	p.Reason, _ = str(a[2])
	p.Hostname, _ = str(a[3])
	p.Digest, _ = str(a[4])
	return p, nil
}

// digest is hex(sha512(parts...)), the handshake's digests.
func digest(parts ...string) string {
	h := sha512.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// credentials are what one server's handshake uses.
type credentials struct {
	sharedKey, selfHostname, username, password string
}

// handshake runs the client side of HELO / PING / PONG on c.
func handshake(c net.Conn, rs *Responses, cr credentials, deadline time.Time) error {
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	defer c.SetDeadline(time.Time{})
	v, err := rs.Next()
	if err != nil {
		return fmt.Errorf("read HELO: %w", err)
	}
	helo, err := ParseHelo(v)
	if err != nil {
		return err
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	salt := hex.EncodeToString(raw[:])
	passDigest := ""
	if len(helo.AuthSalt) > 0 {
		passDigest = digest(string(helo.AuthSalt), cr.username, cr.password)
	}
	ping, err := msgpack.Marshal([]any{"PING", cr.selfHostname, salt,
		digest(salt, cr.selfHostname, string(helo.Nonce), cr.sharedKey), cr.username, passDigest})
	if err != nil {
		return fmt.Errorf("encode PING: %w", err)
	}
	if _, err := c.Write(ping); err != nil {
		return fmt.Errorf("write PING: %w", err)
	}
	if v, err = rs.Next(); err != nil {
		return fmt.Errorf("read PONG: %w", err)
	}
	pong, err := ParsePong(v)
	if err != nil {
		return err
	}
	if !pong.OK {
		return fmt.Errorf("%w: %s", ErrAuth, pong.Reason)
	}
	want := digest(salt, pong.Hostname, string(helo.Nonce), cr.sharedKey)
	if subtle.ConstantTimeCompare([]byte(pong.Digest), []byte(want)) != 1 {
		return fmt.Errorf("%w: PONG digest mismatch (shared_key differs)", ErrAuth)
	}
	return nil
}
