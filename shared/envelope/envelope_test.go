package envelope

import (
	"bytes"
	"errors"
	"testing"
)

func valid() *Envelope {
	return &Envelope{DB: "www", Table: "access", UniqueID: "u1", Part: 1, Parts: 3, Producer: "host1",
		Events: 2, ReceivedMS: 1700000000000, Encoding: EncodingGzip, Payload: []byte{0x1f, 0x8b}}
}

func TestRoundTrip(t *testing.T) {
	in := valid()
	data, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if out.DB != in.DB || out.Table != in.Table || out.UniqueID != in.UniqueID || out.Part != in.Part ||
		out.Parts != in.Parts || out.Producer != in.Producer || out.Events != in.Events ||
		out.ReceivedMS != in.ReceivedMS || !bytes.Equal(out.Payload, in.Payload) {
		t.Fatalf("round trip: got %+v, want %+v", out, in)
	}
	if PartID(out) != "www.access.u1.1" || PartitionKey(out) != PartID(out) {
		t.Fatalf("PartID = %q, PartitionKey = %q", PartID(out), PartitionKey(out))
	}
}

// TestEncodings: every payload encoding of version 1 round-trips.
func TestEncodings(t *testing.T) {
	for _, tc := range []struct{ enc, payload string }{
		{EncodingGzip, "\x1f\x8b"},
		{EncodingZstd, "\x28\xb5\x2f\xfd"},
	} {
		t.Run(tc.enc, func(t *testing.T) {
			in := valid()
			in.Encoding, in.Payload = tc.enc, []byte(tc.payload)
			data, err := Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Unmarshal(data)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if out.Encoding != tc.enc || !bytes.Equal(out.Payload, in.Payload) {
				t.Fatalf("got encoding %q payload %x", out.Encoding, out.Payload)
			}
		})
	}
}

func TestUnmarshalRejects(t *testing.T) {
	mk := func(f func(*Envelope)) []byte {
		e := valid()
		f(e)
		b, err := Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"no magic", []byte(`{"json":true}`), ErrNotEnvelope},
		{"empty", nil, ErrNotEnvelope},
		{"truncated", mk(func(*Envelope) {})[:10], ErrInvalid},
		{"missing db", mk(func(e *Envelope) { e.DB = "" }), ErrInvalid},
		{"missing uid", mk(func(e *Envelope) { e.UniqueID = "" }), ErrInvalid},
		{"part out of range", mk(func(e *Envelope) { e.Part = 3 }), ErrInvalid},
		{"zero parts", mk(func(e *Envelope) { e.Parts = 0; e.Part = 0 }), ErrInvalid},
		{"unknown encoding", mk(func(e *Envelope) { e.Encoding = "lz4" }), ErrInvalid},
		{"no encoding", mk(func(e *Envelope) { e.Encoding = "" }), ErrInvalid},
		{"encoding in upper case", mk(func(e *Envelope) { e.Encoding = "ZSTD" }), ErrInvalid},
		{"import format as encoding", mk(func(e *Envelope) { e.Encoding = "msgpack.zst" }), ErrInvalid},
		{"encoding with a space", mk(func(e *Envelope) { e.Encoding = "gzip " }), ErrInvalid},
		{"negative events", mk(func(e *Envelope) { e.Events = -1 }), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Unmarshal(tt.data); !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzUnmarshal(f *testing.F) {
	good, _ := Marshal(valid())
	f.Add(good)
	z := valid()
	z.Encoding, z.Payload = EncodingZstd, []byte{0x28, 0xb5, 0x2f, 0xfd}
	goodZstd, _ := Marshal(z)
	f.Add(goodZstd)
	f.Add([]byte("SPW1"))
	f.Add([]byte("SPW1\x80"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Unmarshal(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotEnvelope) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		again, err := Marshal(e)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		if _, err := Unmarshal(again); err != nil {
			t.Fatalf("re-unmarshal: %v", err)
		}
	})
}

func TestPartitionKeyFitsKinesis(t *testing.T) {
	long := valid()
	long.DB = string(bytes.Repeat([]byte("d"), 255))
	long.Table = string(bytes.Repeat([]byte("t"), 255))
	k := PartitionKey(long)
	if len(k) > MaxPartitionKey || k[:2] != "h." {
		t.Fatalf("PartitionKey of long names = %q (%d chars)", k, len(k))
	}
	other := *long
	other.Part = 2
	if PartitionKey(&other) == k {
		t.Fatal("different parts share a hashed partition key")
	}
}
