package tdtest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/shared/tdimport"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

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

// TestCountOnly checks the count-only path (tdrecord's Walker, no decoding)
// against the decoding path: the same count for every accepted body and the
// same sentinel for every refused one, so CountOnly answers as a full
// receiver does.
func TestCountOnly(t *testing.T) {
	big := map[string]any{"time": int64(1 << 40), "s": string(make([]byte, 70000)), "b": make([]byte, 300),
		"a": []any{1, -1, 1.5, float32(2), nil, true, "x", []any{map[string]any{"k": uint64(1 << 63)}}},
		"m": map[string]any{"n": int8(-100), "u16": uint16(60000), "i32": int32(-1 << 30)}}
	many := map[string]any{"time": 1}
	for i := 0; i < 20; i++ {
		many[string(rune('a'+i))] = i
	}
	rec := mp(t, map[string]any{"time": 1})
	small := tdrecord.Limits{MaxDecompressedBytes: 1 << 20, MaxRecordBytes: 1 << 20, MaxEvents: 1, MaxDepth: 2, MaxKeys: 8}
	tests := []struct {
		name    string
		in      []byte
		want    int
		wantErr error
		lim     tdrecord.Limits // zero: DefaultLimits
	}{
		{name: "empty", in: nil, want: 0},
		{name: "one", in: rec, want: 1},
		{name: "every type", in: mp(t, big, big), want: 2},
		{name: "map16", in: mp(t, many), want: 1},
		{name: "ext value", in: []byte{0x82, 0xa4, 't', 'i', 'm', 'e', 0x01, 0xa1, 'e', 0xd6, 0x00, 1, 2, 3, 4}, wantErr: ErrBadRecord},
		{name: "no time", in: mp(t, map[string]any{"a": 1}), wantErr: ErrBadRecord},
		{name: "truncated", in: rec[:len(rec)-1], wantErr: ErrBadRecord},
		{name: "not a map", in: mp(t, 1), wantErr: ErrBadRecord},
		{name: "reserved byte", in: []byte{0x82, 0xa4, 't', 'i', 'm', 'e', 0x01, 0xa1, 'k', 0xc1}, wantErr: ErrBadRecord},
		{name: "huge length", in: []byte{0x81, 0xa1, 'k', 0xdb, 0xff, 0xff, 0xff, 0xff}, wantErr: ErrBadRecord},
		{name: "more records than allowed", in: mp(t, map[string]any{"time": 1}, map[string]any{"time": 2}), wantErr: ErrTooLarge, lim: small},
		{name: "more keys than allowed", in: mp(t, many), wantErr: ErrTooLarge, lim: small},
		{name: "deeper than allowed", in: mp(t, map[string]any{"time": 1, "a": []any{[]any{[]any{1}}}}), wantErr: ErrTooLarge, lim: small},
		{name: "within the small limits", in: mp(t, map[string]any{"time": 1, "a": []any{1}}), want: 1, lim: small},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := tt.lim
			if lim == (tdrecord.Limits{}) {
				lim = DefaultLimits()
			}
			for _, format := range []string{tdimport.FormatGzip, tdimport.FormatZstd} {
				body := gz(t, tt.in)
				if format == tdimport.FormatZstd {
					body = zst(t, tt.in, 0)
				}
				for _, countOnly := range []bool{true, false} {
					_, n, err := decodeBody(body, format, lim, countOnly)
					if tt.wantErr != nil {
						if !errors.Is(err, tt.wantErr) {
							t.Fatalf("%s, countOnly %v: %d, %v; want %v", format, countOnly, n, err, tt.wantErr)
						}
						continue
					}
					if err != nil || n != tt.want {
						t.Fatalf("%s, countOnly %v: %d, %v; want %d", format, countOnly, n, err, tt.want)
					}
				}
			}
		})
	}
}
