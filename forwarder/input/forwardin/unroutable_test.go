package forwardin

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"

	"github.com/spillwayhq/spillway/forwarder/buffer"
)

// openBuffer opens a real disk buffer in a temporary directory.
func openBuffer(tb testing.TB) *buffer.Buffer {
	tb.Helper()
	cfg := buffer.DefaultConfig()
	cfg.Dir = tb.TempDir()
	b, err := buffer.Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// TestUnroutableTagRefused: events whose tag no route accepts (today: any
// tag that is not td.<db>.<table>) are refused, never acked and dropped
// (issue 13, "Acked, then dropped"). A fluent-logger client asking for acks
// gets an error for each, the buffer stays empty, and the refusals are
// counted; a routable event on a new connection is still stored.
func TestUnroutableTagRefused(t *testing.T) {
	tests := []struct {
		name string
		json bool
	}{
		{"msgpack", false},
		{"json", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := openBuffer(t)
			srv, addr := startServer(t, DefaultConfig(), buf)
			host, port := hostPort(t, addr)
			logger, err := fluent.New(fluent.Config{FluentHost: host, FluentPort: port, RequestAck: true, MarshalAsJSON: tt.json,
				Timeout: 5 * time.Second, WriteTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, MaxRetry: 1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { logger.Close() })
			const n = 100
			for i := 0; i < n; i++ {
				if err := logger.PostWithTime("app.access", time.Unix(1700000000+int64(i), 0), map[string]any{"i": i, "path": "/"}); err == nil {
					t.Fatalf("post %d of app.access: acked, want an error (no ack)", i)
				}
			}
			if st := buf.Stats(); st.AppendedRecs != 0 || st.Bytes != 0 {
				t.Fatalf("buffer holds %d records (%d bytes) after unroutable events, want none", st.AppendedRecs, st.Bytes)
			}
			if st := srv.Stats(); st.Unroutable != n || st.Acks != 0 || st.Records != 0 {
				t.Fatalf("stats %+v, want %d unroutable, no acks, no records", st, n)
			}
			if err := logger.PostWithTime("td.db1.tbl1", time.Unix(1700000000, 0), map[string]any{"ok": true}); err != nil {
				t.Fatalf("post of a routable event after the refusals: %v", err)
			}
			if st := buf.Stats(); st.AppendedRecs != 1 {
				t.Fatalf("buffer holds %d records, want the 1 routable one", st.AppendedRecs)
			}
		})
	}
}

// TestUnroutableWithoutChunkClosed: a message without the chunk option
// cannot be refused by withholding an ack, so the connection is closed, as
// for other refusals.
func TestUnroutableWithoutChunkClosed(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
	}{
		{"message", mp(t, []any{"app.access", 1700000000, rec{"a": 1}})},
		{"forward", mp(t, []any{"app.access", []any{[]any{1700000000, rec{"a": 1}}}})},
		{"bad names", mp(t, []any{"td.Bad-Db.tbl", 1700000000, rec{"a": 1}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := openBuffer(t)
			srv, addr := startServer(t, DefaultConfig(), buf)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tt.msg); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Fatalf("read after an unroutable message: %d bytes, %v; want the connection closed (EOF)", n, err)
			}
			if st := srv.Stats(); st.Unroutable != 1 || st.Protocol != 0 {
				t.Fatalf("stats %+v, want 1 unroutable, no protocol error", st)
			}
			if st := buf.Stats(); st.AppendedRecs != 0 {
				t.Fatalf("buffer holds %d records, want none", st.AppendedRecs)
			}
		})
	}
}
