package tdrecord

import (
	"encoding/binary"
	"testing"

	"github.com/spillwayhq/spillway/internal/testcodec"
)

// timeEvent is {"time": <raw>} with raw a msgpack value.
func timeEvent(raw ...byte) []byte {
	return append([]byte{0x81, 0xa4, 't', 'i', 'm', 'e'}, raw...)
}

func u64(c byte, v uint64) []byte { return binary.BigEndian.AppendUint64([]byte{c}, v) }

func TestWalkerTime(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want int64
		kind Kind
	}{
		{name: "fixint", raw: timeEvent(0x05), want: 5},
		{name: "negative fixint", raw: timeEvent(0xff), want: -1},
		{name: "uint32", raw: timeEvent(0xce, 0x65, 0x53, 0xf1, 0x00), want: 1700000000},
		{name: "int64 min", raw: timeEvent(u64(0xd3, 1<<63)...), want: -1 << 63},
		{name: "uint64 2^62", raw: timeEvent(u64(0xcf, 1<<62)...), want: 1 << 62},
		// Fanout used to refuse these; ingest accepted them.
		{name: "uint64 2^62+1", raw: timeEvent(u64(0xcf, 1<<62+1)...), want: 1<<62 + 1},
		{name: "uint64 2^63-1", raw: timeEvent(u64(0xcf, 1<<63-1)...), want: 1<<63 - 1},
		{name: "uint64 2^63", raw: timeEvent(u64(0xcf, 1<<63)...), kind: KindTimeInvalid},
		{name: "float", raw: timeEvent(u64(0xcb, 0x3ff0000000000000)...), kind: KindTimeInvalid},
		{name: "string", raw: timeEvent(0xa1, '1'), kind: KindTimeInvalid},
		{name: "truncated", raw: timeEvent(0xcf, 0), kind: KindBadMsgpack},
		{name: "missing", raw: []byte{0x81, 0xa1, 'a', 0x01}, kind: KindTimeMissing},
		{name: "not a map", raw: []byte{0x91, 0x01}, kind: KindNotMap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := Walker{Limits: DefaultLimits()}
			var got []Event
			n, err := w.Walk(tt.raw, func(ev Event) { got = append(got, ev) })
			if tt.kind != 0 {
				if KindOf(err) != tt.kind {
					t.Fatalf("err %v (kind %v), want kind %v", err, KindOf(err), tt.kind)
				}
				return
			}
			if err != nil || n != 1 || got[0].Time != tt.want || got[0].End != len(tt.raw) {
				t.Fatalf("n=%d events=%v err=%v, want time %d", n, got, err, tt.want)
			}
		})
	}
}

func TestWalkerLimits(t *testing.T) {
	lim := Limits{MaxDecompressedBytes: 1 << 20, MaxRecordBytes: 64, MaxKeys: 2, MaxDepth: 2, MaxEvents: 2}
	tests := []struct {
		name string
		raw  []byte
		kind Kind
	}{
		{name: "ok", raw: stream(t, map[string]any{"time": 1, "a": []any{1}})},
		{name: "too many keys", raw: stream(t, map[string]any{"time": 1, "a": 1, "b": 2}), kind: KindTooManyKeys},
		{name: "too deep", raw: stream(t, map[string]any{"time": 1, "a": []any{[]any{1}}}), kind: KindTooDeep},
		{name: "record too large", raw: stream(t, map[string]any{"time": 1, "a": string(make([]byte, 64))}), kind: KindRecordTooLarge},
		{name: "too many events", raw: stream(t, map[string]any{"time": 1}, map[string]any{"time": 2}, map[string]any{"time": 3}), kind: KindTooManyEvents},
		{name: "extension type", raw: append([]byte{0x82, 0xa1, 'a', 0xd4, 0, 0}, timeEvent(1)[1:]...), kind: KindBadMsgpack},
		{name: "nested integer key", raw: stream(t, map[string]any{"time": 1, "a": map[int]int{1: 1}}), kind: KindBadMsgpack},
		{name: "reserved byte", raw: []byte{0xc1}, kind: KindNotMap},
		{name: "huge map header", raw: []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, kind: KindBadMsgpack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := Walker{Limits: lim}
			_, err := w.Walk(tt.raw, nil)
			if KindOf(err) != tt.kind {
				t.Fatalf("err %v (kind %v), want kind %v", err, KindOf(err), tt.kind)
			}
		})
	}
}

func TestWalkerColumns(t *testing.T) {
	raw := stream(t, map[string]any{"time": 1, "s": "x", "i": 3, "f": 1.5, "b": true, "n": nil, "a": []any{}, "m": map[string]any{}, "y": []byte("x")})
	got := map[string]string{}
	w := Walker{Limits: DefaultLimits(), Column: func(k []byte, ty ColumnType) { got[string(k)] = ty.String() }}
	if _, err := w.Walk(raw, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"s": "string", "i": "long", "f": "double", "b": "boolean", "n": "", "a": "array", "m": "map", "y": "binary"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("column %q: %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["time"]; ok || len(got) != len(want) {
		t.Fatalf("columns %v", got)
	}
}

func TestWalkerAllocs(t *testing.T) {
	raw := stream(t, map[string]any{"time": 1, "a": []any{1, "x", map[string]any{"b": nil}}}, map[string]any{"time": 2, "c": 1.5})
	w := Walker{Limits: DefaultLimits()}
	n := 0
	count := func(Event) { n++ }
	if allocs := testing.AllocsPerRun(100, func() { _, _ = w.Walk(raw, count) }); allocs != 0 {
		t.Fatalf("Walk allocates %v times per run", allocs)
	}
}

// FuzzWalk fuzzes the walker directly, without compression: what it
// accepts must decode with an independent decoder into as many maps, each
// with an integer time, and the events must cover the stream.
func FuzzWalk(f *testing.F) {
	f.Add(stream(f, map[string]any{"time": int64(1700000000), "a": []any{1, "x", map[string]any{"b": nil}}}))
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	lim := fuzzLimits()
	f.Fuzz(func(t *testing.T, raw []byte) {
		w := Walker{Limits: lim}
		end := 0
		n, err := w.Walk(raw, func(ev Event) {
			if ev.Start != end {
				t.Fatalf("event starts at %d, previous ended at %d", ev.Start, end)
			}
			end = ev.End
		})
		if err != nil {
			if KindOf(err) == 0 {
				t.Fatalf("error without a kind: %v", err)
			}
			return
		}
		testcodec.CheckStream(t, raw, n)
		if end != len(raw) {
			t.Fatal("events do not cover the stream")
		}
	})
}

// benchStream is n access-log-like events.
func benchStream(tb testing.TB, n int) []byte {
	tb.Helper()
	maps := make([]map[string]any, n)
	for i := range maps {
		maps[i] = map[string]any{"time": int64(1700000000 + i), "host": "192.168.0.1", "method": "GET", "path": "/x/y/z?q=" + string(rune('a'+i%26)),
			"code": 200, "size": 1234 + i, "referer": "-", "agent": "Mozilla/5.0 (X11; Linux x86_64)", "tags": []any{"a", 1, map[string]any{"k": 1.5}}}
	}
	return stream(tb, maps...)
}

// BenchmarkWalk is the validation step of every import request.
func BenchmarkWalk(b *testing.B) {
	raw := benchStream(b, 10000)
	w := Walker{Limits: DefaultLimits()}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := w.Walk(raw, func(Event) {}); err != nil {
			b.Fatal(err)
		}
	}
}
