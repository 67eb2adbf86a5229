package tdrecord

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/gzip"
)

func gz(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeInHTTP(t *testing.T) {
	const now = 1700000000
	tests := []struct {
		name  string
		req   InHTTPRequest
		want  []map[string]any
		kind  Kind
		count int
	}{
		{name: "json body", req: InHTTPRequest{ContentType: "application/json", Body: []byte(`{"a":1,"time":5}`)},
			want: []map[string]any{{"a": int8(1), "time": int8(5)}}},
		{name: "json array, float time, no time", req: InHTTPRequest{ContentType: "application/json; charset=utf-8", Body: []byte(`[{"time":1518756037.9},{"b":2}]`)},
			want: []map[string]any{{"time": uint32(1518756037)}, {"b": int8(2), "time": uint32(now)}}},
		{name: "json form parameter", req: InHTTPRequest{Body: []byte(`json={"a":"x"}`)},
			want: []map[string]any{{"a": "x", "time": uint32(now)}}},
		{name: "form wins over query", req: InHTTPRequest{ContentType: "application/x-www-form-urlencoded", RawQuery: `json={"q":1}`, Body: []byte(`json={"f":1}`)},
			want: []map[string]any{{"f": int8(1), "time": uint32(now)}}},
		{name: "ndjson", req: InHTTPRequest{ContentType: "application/x-ndjson", Body: []byte("{\"a\":1}\n\n{\"a\":2}\n")},
			want: []map[string]any{{"a": int8(1), "time": uint32(now)}, {"a": int8(2), "time": uint32(now)}}},
		{name: "jsonl", req: InHTTPRequest{ContentType: "application/jsonl", Body: []byte("{\"a\":1}")},
			want: []map[string]any{{"a": int8(1), "time": uint32(now)}}},
		{name: "msgpack array", req: InHTTPRequest{ContentType: "application/msgpack", Body: []byte{0x91, 0x81, 0xa1, 'a', 0x01}},
			want: []map[string]any{{"a": int8(1), "time": uint32(now)}}},
		{name: "time parameter wins", req: InHTTPRequest{ContentType: "application/json", RawQuery: "time=1518756037.31", Body: []byte(`{"time":5}`)},
			want: []map[string]any{{"time": uint32(1518756037)}}},
		{name: "time parameter 0 is now", req: InHTTPRequest{ContentType: "application/json", RawQuery: "time=0", Body: []byte(`{"a":1}`)},
			want: []map[string]any{{"a": int8(1), "time": uint32(now)}}},
		{name: "null time is now", req: InHTTPRequest{ContentType: "application/json", Body: []byte(`{"time":null}`)},
			want: []map[string]any{{"time": uint32(now)}}},
		{name: "overflowing number kept as text", req: InHTTPRequest{ContentType: "application/json", Body: []byte(`{"a":1e999,"b":[-1e999]}`)},
			want: []map[string]any{{"a": "1e999", "b": []any{"-1e999"}, "time": uint32(now)}}},
		{name: "gzip", req: InHTTPRequest{ContentType: "application/json", ContentEncoding: "gzip", Body: gz(t, []byte(`{"z":1}`))},
			want: []map[string]any{{"z": int8(1), "time": uint32(now)}}},
		{name: "empty array", req: InHTTPRequest{ContentType: "application/json", Body: []byte(`[]`)}},
		{name: "string time", req: InHTTPRequest{ContentType: "application/json", Body: []byte(`{"time":"1700000000"}`)}, kind: KindTimeInvalid},
		{name: "bad time parameter", req: InHTTPRequest{ContentType: "application/json", RawQuery: "time=soon", Body: []byte(`{}`)}, kind: KindTimeInvalid},
		{name: "no parameter", req: InHTTPRequest{Body: []byte(`x=1`)}, kind: KindNoData},
		{name: "unknown type", req: InHTTPRequest{ContentType: "text/plain", Body: []byte(`x`)}, kind: KindUnsupportedType},
		{name: "unknown encoding", req: InHTTPRequest{ContentType: "application/json", ContentEncoding: "br", Body: []byte(`{}`)}, kind: KindUnsupportedCompression},
		{name: "bad gzip", req: InHTTPRequest{ContentType: "application/json", ContentEncoding: "gzip", Body: []byte(`{}`)}, kind: KindBadCompression},
		{name: "bad json", req: InHTTPRequest{ContentType: "application/json", Body: []byte(`{`)}, kind: KindBadJSON},
		{name: "not an object", req: InHTTPRequest{ContentType: "application/json", Body: []byte(`[1]`)}, kind: KindNotMap},
		{name: "msgpack trailing bytes", req: InHTTPRequest{ContentType: "application/msgpack", Body: []byte{0x80, 0x01}}, kind: KindBadMsgpack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Now = now
			raw, n, err := DecodeInHTTP(tt.req, DefaultLimits())
			if tt.kind != 0 {
				if KindOf(err) != tt.kind {
					t.Fatalf("err %v (kind %v), want kind %v", err, KindOf(err), tt.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(raw, DefaultLimits())
			if err != nil || n != len(tt.want) || len(got) != n {
				t.Fatalf("n=%d decoded %v (%v), want %v", n, got, err, tt.want)
			}
			for i := range got {
				if !equal(got[i], tt.want[i]) {
					t.Fatalf("event %d: %#v, want %#v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !equal(x[k], y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestDecompressLimits(t *testing.T) {
	big := gz(t, make([]byte, 4<<20))
	tests := []struct {
		name string
		c    Compression
		body []byte
		lim  Limits
		kind Kind
	}{
		{name: "ok", c: Gzip, body: gz(t, []byte("abc")), lim: DefaultLimits()},
		{name: "too large", c: Gzip, body: big, lim: Limits{MaxDecompressedBytes: 1 << 20}, kind: KindDecompressedTooLarge},
		{name: "ratio", c: Gzip, body: big, lim: Limits{MaxDecompressedBytes: 8 << 20, MaxCompressionRatio: 10, RatioFloorBytes: 1 << 10}, kind: KindRatio},
		{name: "ratio off", c: Gzip, body: big, lim: StoreLimits(8 << 20)},
		{name: "not gzip", c: Gzip, body: []byte("abc"), lim: DefaultLimits(), kind: KindBadCompression},
		{name: "empty zstd", c: Zstd, lim: DefaultLimits(), kind: KindBadCompression},
		{name: "unknown", c: "br", lim: DefaultLimits(), kind: KindUnsupportedCompression},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decompress(tt.c, tt.body, tt.lim, nil)
			if KindOf(err) != tt.kind {
				t.Fatalf("err %v (kind %v), want kind %v", err, KindOf(err), tt.kind)
			}
		})
	}
}
