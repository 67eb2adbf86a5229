package forwardin

// This file holds the shared_key handshake (HELO, PING, PONG).

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

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
