package forwardin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// serveJSON reads JSON-encoded forward messages (Fluentd accepts a
// connection whose first byte is '[' or '{' as JSON; fluent-logger-golang's
// MarshalAsJSON sends [tag, time, record, option]). Message and Forward
// modes are supported; acks are JSON {"ack": chunk}.
func (cn *conn) serveJSON() error {
	s := cn.s
	lr := &limitedReader{r: cn.r, max: int64(s.cfg.MaxMessageBytes)}
	dec := json.NewDecoder(lr)
	dec.UseNumber()
	for {
		if !cn.armRead() && cn.r.Buffered() == 0 {
			return nil
		}
		var msg []any
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("decode json message: %w", err)
		}
		// Restart the size count: only what is read past this message counts.
		lr.n = 0
		if br, ok := dec.Buffered().(*bytes.Reader); ok {
			lr.n = int64(br.Len())
		}
		s.st.messages.Add(1)
		if err := cn.processJSON(msg); err != nil {
			return err
		}
	}
}

// limitedReader fails a JSON connection whose single message grows past
// max bytes (serveJSON restarts the count at every message boundary).
type limitedReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n >= l.max {
		return 0, fmt.Errorf("%w: json message over %d bytes", ErrTooLarge, l.max)
	}
	if int64(len(p)) > l.max-l.n {
		p = p[:l.max-l.n]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

func (cn *conn) processJSON(msg []any) error {
	s := cn.s
	if len(msg) < 2 || len(msg) > 4 {
		return fmt.Errorf("json message is not an array of 2 to 4 elements")
	}
	tag, ok := msg[0].(string)
	if !ok {
		return fmt.Errorf("json tag is not a string")
	}
	var optV any
	now := s.now().Unix()
	cn.out = cn.out[:0]
	count := 0
	add := func(tv, rv any) error {
		if rv == nil {
			return nil
		}
		rec, ok := rv.(map[string]any)
		t, err := tdrecord.Seconds(tv)
		if !ok || err != nil {
			s.st.invalid.Add(1)
			return nil
		}
		if t == 0 {
			t = now
		}
		tdrecord.JSONValue(rec)
		if cn.out, err = tdrecord.AppendRecord(cn.out, rec, t); err != nil {
			return fmt.Errorf("encode record: %w", err)
		}
		count++
		return nil
	}
	switch second := msg[1].(type) {
	case []any: // Forward mode
		for _, e := range second {
			entry, ok := e.([]any)
			if !ok || len(entry) < 2 {
				s.st.invalid.Add(1)
				continue
			}
			if err := add(entry[0], entry[1]); err != nil {
				return err
			}
		}
		if len(msg) >= 3 {
			optV = msg[2]
		}
	default: // Message mode
		if len(msg) < 3 {
			return fmt.Errorf("json message mode needs a record")
		}
		if err := add(second, msg[2]); err != nil {
			return err
		}
		if len(msg) == 4 {
			optV = msg[3]
		}
	}
	var chunk []byte
	if opt, ok := optV.(map[string]any); ok {
		if c, ok := opt["chunk"].(string); ok {
			chunk = []byte(c)
		}
	}
	return cn.store(tag, count, chunk, true)
}

func jsonString(b []byte) []byte {
	out, _ := json.Marshal(string(b))
	return out
}
