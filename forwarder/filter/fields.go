package filter

import (
	"fmt"

	"github.com/tinylib/msgp/msgp"
)

// AppendFields adds string fields to the msgpack map that starts at
// buf[start] and runs to the end of buf (the record a parser just
// appended), and returns buf. kv holds key, value pairs. A key the record
// already has is added again; callers pick keys the parser does not emit.
func AppendFields(buf []byte, start int, kv ...string) ([]byte, error) {
	if len(kv) == 0 {
		return buf, nil
	}
	k := uint32(len(kv) / 2)
	n, rest, err := msgp.ReadMapHeaderBytes(buf[start:])
	if err != nil {
		return buf, fmt.Errorf("add fields: %w", err)
	}
	if n+k <= 15 && buf[start]&0xf0 == 0x80 {
		buf[start] = 0x80 | byte(n+k) // fixmap stays a fixmap
	} else {
		body := append([]byte(nil), rest...)
		buf = append(msgp.AppendMapHeader(buf[:start], n+k), body...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		buf = msgp.AppendString(buf, kv[i])
		buf = msgp.AppendString(buf, kv[i+1])
	}
	return buf, nil
}
