package tdtest

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// refCount counts top-level values with vmihailenco/msgpack's Skip.
func refCount(b []byte) (int, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	for n := 0; ; n++ {
		if err := dec.Skip(); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
	}
}

func mp(tb testing.TB, vs ...any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestCountRecords(t *testing.T) {
	big := map[string]any{"time": int64(1 << 40), "s": string(make([]byte, 70000)), "b": make([]byte, 300),
		"a": []any{1, -1, 1.5, float32(2), nil, true, "x", []any{map[string]any{"k": uint64(1 << 63)}}},
		"m": map[string]any{"n": int8(-100), "u16": uint16(60000), "i32": int32(-1 << 30)}}
	many := map[string]any{}
	for i := 0; i < 20; i++ {
		many[string(rune('a'+i))] = i
	}
	rec := mp(t, map[string]any{"time": 1})
	small := Limits{MaxDecompressedBytes: 1 << 20, MaxRecords: 1, MaxDepth: 2, MaxKeys: 8}
	tests := []struct {
		name    string
		in      []byte
		want    int
		wantErr error
		lim     Limits // zero: DefaultLimits
	}{
		{"empty", nil, 0, nil, Limits{}},
		{"one", rec, 1, nil, Limits{}},
		{"every type", mp(t, big, big), 2, nil, Limits{}},
		{"map16", mp(t, many), 1, nil, Limits{}},
		{"ext", []byte{0x81, 0xa1, 'e', 0xd6, 0x00, 1, 2, 3, 4, 0x81, 0xa1, 'e', 0xc7, 2, 0x05, 1, 2}, 2, nil, Limits{}},
		{"truncated", rec[:len(rec)-1], 0, errTruncated, Limits{}},
		{"not a map", mp(t, 1), 0, errBadType, Limits{}},
		{"reserved byte", []byte{0x81, 0xa1, 'k', 0xc1}, 0, errBadType, Limits{}},
		{"huge length", []byte{0x81, 0xa1, 'k', 0xdb, 0xff, 0xff, 0xff, 0xff}, 0, errTruncated, Limits{}},
		{"more records than allowed", mp(t, map[string]any{"time": 1}, map[string]any{"time": 2}), 0, ErrTooLarge, small},
		{"deeper than allowed", mp(t, map[string]any{"time": 1, "a": []any{[]any{[]any{1}}}}), 0, ErrTooLarge, small},
		{"within the small limits", mp(t, map[string]any{"time": 1, "a": []any{1}}), 1, nil, small},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim
			if lim == (Limits{}) {
				lim = DefaultLimits()
			}
			n, err := countRecords(tt.in, lim)
			if !errors.Is(err, tt.wantErr) || err == nil && n != tt.want {
				t.Fatalf("countRecords = %d, %v; want %d, %v", n, err, tt.want, tt.wantErr)
			}
			if err == nil {
				if ref, rerr := refCount(tt.in); rerr != nil || ref != n {
					t.Fatalf("msgpack.Skip counts %d, %v", ref, rerr)
				}
			}
		})
	}
}

// FuzzCountRecords checks countRecords against msgpack.Skip: whenever it
// accepts a stream, Skip counts the same values.
func FuzzCountRecords(f *testing.F) {
	f.Add(mp(f, map[string]any{"time": 1, "a": []any{1, "x"}}))
	f.Add([]byte{0x81, 0xa1, 'e', 0xd6, 0x00, 1, 2, 3, 4})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := countRecords(b, DefaultLimits())
		if err != nil {
			return
		}
		if ref, rerr := refCount(b); rerr != nil || ref != n {
			t.Fatalf("countRecords = %d, msgpack.Skip = %d, %v", n, ref, rerr)
		}
	})
}
