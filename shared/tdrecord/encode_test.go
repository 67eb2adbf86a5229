package tdrecord

import (
	"testing"
)

func TestAppendRawRecord(t *testing.T) {
	tests := []struct {
		name string
		rec  []byte
		want map[string]any
		kind Kind
	}{
		{name: "time replaced and last", rec: stream(t, map[string]any{"a": 1, "time": "x"}), want: map[string]any{"a": int8(1), "time": int8(7)}},
		{name: "bin key becomes str", rec: []byte{0x81, 0xc4, 0x01, 'k', 0x02}, want: map[string]any{"k": int8(2), "time": int8(7)}},
		{name: "not a map", rec: []byte{0x91, 0x01}, kind: KindNotMap},
		{name: "integer key", rec: []byte{0x81, 0x01, 0x02}, kind: KindBadMsgpack},
		// Ingest refuses extension values; the forwarder does not pass them on.
		{name: "extension value", rec: []byte{0x81, 0xa1, 'k', 0xd4, 0x01, 0x00}, kind: KindBadMsgpack},
		{name: "truncated value", rec: []byte{0x81, 0xa1, 'k', 0xcd, 0x01}, kind: KindBadMsgpack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte{0x80}
			out, err := AppendRawRecord(prefix, tt.rec, 7)
			if tt.kind != 0 {
				if KindOf(err) != tt.kind || len(out) != len(prefix) {
					t.Fatalf("err %v (kind %v), out %x; want kind %v and dst unchanged", err, KindOf(err), out, tt.kind)
				}
				return
			}
			got, err := Decode(out[1:], DefaultLimits())
			if err != nil || len(got) != 1 || !equal(got[0], tt.want) {
				t.Fatalf("got %v %v, want %v", got, err, tt.want)
			}
			if out[len(out)-1] != 7 || string(out[len(out)-6:len(out)-1]) != "\xa4time" {
				t.Fatalf("time is not last: %x", out)
			}
		})
	}
}

func TestAppendRecordDeterministic(t *testing.T) {
	m := map[string]any{"b": map[string]any{"y": 1, "x": 2}, "a": 1.5, "time": "ignored", "c": uint64(1 << 63)}
	first, err := AppendRecord(nil, m, 1700000000)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		again, err := AppendRecord(nil, m, 1700000000)
		if err != nil || string(again) != string(first) {
			t.Fatalf("encodings differ: %x vs %x (%v)", again, first, err)
		}
	}
	got, err := Decode(first, DefaultLimits())
	if err != nil || got[0]["time"] != uint32(1700000000) || got[0]["a"] != 1.5 || got[0]["c"] != uint64(1<<63) {
		t.Fatalf("decoded %v %v", got, err)
	}
}
