package parser

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// fixedNow is the injected clock of every test.
var fixedNow = time.Date(2026, 11, 22, 1, 2, 3, 0, time.UTC)

func mustNew(tb testing.TB, cfg Config) Parser {
	tb.Helper()
	p, err := New(cfg)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	return p
}

// decodeOne decodes exactly one msgpack map from b and fails on leftovers.
func decodeOne(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("decode %x: %v", b, err)
	}
	if rest, _ := dec.Buffered().(*bytes.Reader); rest != nil && rest.Len() > 0 {
		tb.Fatalf("%d bytes after the record", rest.Len())
	}
	return m
}

// normalize turns decoded msgpack numbers into int64/float64 so records can
// be compared with literals.
func normalize(v any) any {
	switch t := v.(type) {
	case int8:
		return int64(t)
	case int16:
		return int64(t)
	case int32:
		return int64(t)
	case int:
		return int64(t)
	case uint8:
		return int64(t)
	case uint16:
		return int64(t)
	case uint32:
		return int64(t)
	case uint64:
		if t <= 1<<63-1 {
			return int64(t)
		}
		return t
	case float32:
		return float64(t)
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	}
	return v
}

func toJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
