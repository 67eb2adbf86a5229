package forward

import (
	"bytes"
	"testing"

	"github.com/tinylib/msgp/msgp"
	"github.com/vmihailenco/msgpack/v5"
)

// FuzzResponses decodes arbitrary server answers as HELO, PONG and acks:
// errors, never panics or unbounded reads. Seeds: testdata/fuzz/FuzzResponses.
func FuzzResponses(f *testing.F) {
	for _, v := range []any{
		map[string]any{"ack": "YWJj"},
		[]any{"HELO", map[string]any{"nonce": []byte("0123456789abcdef"), "auth": "", "keepalive": true}},
		[]any{"PONG", true, "", "host", "digest"},
		[]any{"PONG", false, "shared_key mismatch", "", ""},
	} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}) // a map claiming 4G pairs
	f.Fuzz(func(t *testing.T, b []byte) {
		rs := NewResponses(bytes.NewReader(b))
		for i := 0; i < 4; i++ {
			v, err := rs.Next()
			if err != nil {
				return
			}
			_, _ = ParseAck(v)
			_, _ = ParseHelo(v)
			_, _ = ParsePong(v)
		}
	})
}

// FuzzAppendEntries turns arbitrary bytes into entries: an error or
// entries that msgp frames back as [time, record], one per record. Seeds:
// testdata/fuzz/FuzzAppendEntries.
func FuzzAppendEntries(f *testing.F) {
	f.Add(record(f, nil, 1), false, false)
	f.Add(record(f, record(f, nil, 2), 3), true, true)
	f.Add([]byte{0x81, 0xa4, 't', 'i', 'm', 'e', 0xa1, 'x'}, false, false) // time not an integer
	f.Fuzz(func(t *testing.T, raw []byte, asInt, keep bool) {
		out, n, err := AppendEntries(nil, raw, EntryOptions{TimeAsInteger: asInt, KeepTimeKey: keep, Now: 1})
		k := 0
		for rest := out; len(rest) > 0; k++ {
			sz, r, derr := msgp.ReadArrayHeaderBytes(rest)
			if derr != nil || sz != 2 {
				t.Fatalf("entry %d is not a 2-array: %v (append error %v)", k, derr, err)
			}
			if r, derr = msgp.Skip(r); derr != nil {
				t.Fatalf("entry %d time: %v", k, derr)
			}
			if msgp.NextType(r) != msgp.MapType {
				t.Fatalf("entry %d record is %v, not a map", k, msgp.NextType(r))
			}
			if rest, derr = msgp.Skip(r); derr != nil {
				t.Fatalf("entry %d record: %v", k, derr)
			}
		}
		if k != n {
			t.Fatalf("%d entries decoded, %d reported", k, n)
		}
	})
}
