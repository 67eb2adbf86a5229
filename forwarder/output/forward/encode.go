package forward

// This file turns a chunk's stored records (TD import records: msgpack maps
// with an integer "time") into one forward-protocol message.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/tinylib/msgp/msgp"
)

// EventTime is Fluentd's EventTime: msgpack extension type 0 holding the
// seconds and nanoseconds as big-endian uint32s.
type EventTime struct {
	Sec, Nsec uint32
}

var _ msgp.Extension = (*EventTime)(nil)

// ExtensionType is 0, Fluentd's EventTime.
func (*EventTime) ExtensionType() int8 { return 0 }

// Len is 8.
func (*EventTime) Len() int { return 8 }

// MarshalBinaryTo writes the 8 bytes to b.
func (t *EventTime) MarshalBinaryTo(b []byte) error {
	binary.BigEndian.PutUint32(b[0:4], t.Sec)
	binary.BigEndian.PutUint32(b[4:8], t.Nsec)
	return nil
}

// UnmarshalBinary reads the 8 bytes of b.
func (t *EventTime) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("event time of %d bytes, want 8", len(b))
	}
	t.Sec, t.Nsec = binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8])
	return nil
}

// EntryOptions say how records become entries.
type EntryOptions struct {
	TimeAsInteger bool // integer times instead of EventTime
	KeepTimeKey   bool // keep the record's "time" key
	// Now is the time of a record without an integer "time" (none is
	// stored so; kept for safety). 0 means time.Now.
	Now int64
}

// AppendEntries appends to dst one forward entry [time, record] per
// record of raw (concatenated msgpack maps, each with an integer "time"):
// the time is the record's "time" and, unless KeepTimeKey, the key is
// removed from the record; every other pair is copied byte for byte. It
// returns the entries and their count; an error means raw is not a stream
// of maps (dst then holds the entries before the bad record).
func AppendEntries(dst, raw []byte, o EntryOptions) ([]byte, int, error) {
	n := 0
	et := new(EventTime) // one allocation for every entry
	for len(raw) > 0 {
		out, rest, err := appendEntry(dst, raw, o, et)
		if err != nil {
			return dst, n, fmt.Errorf("record %d: %w", n, err)
		}
		dst, raw = out, rest
		n++
	}
	return dst, n, nil
}

func appendEntry(dst, raw []byte, o EntryOptions, et *EventTime) ([]byte, []byte, error) {
	sz, body, err := msgp.ReadMapHeaderBytes(raw)
	if err != nil {
		return dst, raw, fmt.Errorf("not a map: %w", err)
	}
	// First pass: the time, the end of the record, the pairs kept.
	var (
		t       int64
		hasTime bool
		kept    uint32
	)
	p := body
	for i := uint32(0); i < sz; i++ {
		k, rest, err := msgp.ReadMapKeyZC(p)
		if err != nil {
			return dst, raw, fmt.Errorf("key: %w", err)
		}
		if string(k) == "time" {
			if v, _, err := msgp.ReadInt64Bytes(rest); err == nil {
				t, hasTime = v, true
			}
			if !o.KeepTimeKey {
				if p, err = msgp.Skip(rest); err != nil {
					return dst, raw, fmt.Errorf("value of %q: %w", k, err)
				}
				continue
			}
		}
		if p, err = msgp.Skip(rest); err != nil {
			return dst, raw, fmt.Errorf("value of %q: %w", k, err)
		}
		kept++
	}
	end := p
	if !hasTime {
		t = o.Now
		if t == 0 {
			t = time.Now().Unix()
		}
	}
	dst = msgp.AppendArrayHeader(dst, 2)
	if o.TimeAsInteger {
		dst = msgp.AppendInt64(dst, t)
	} else {
		var err error
		et.Sec, et.Nsec = uint32(t), 0
		if dst, err = msgp.AppendExtension(dst, et); err != nil {
			return dst, raw, fmt.Errorf("event time: %w", err)
		}
	}
	if kept == sz {
		return append(dst, raw[:len(raw)-len(end)]...), end, nil
	}
	// Second pass: copy the pairs but "time".
	dst = msgp.AppendMapHeader(dst, kept)
	p = body
	for i := uint32(0); i < sz; i++ {
		k, rest, _ := msgp.ReadMapKeyZC(p)
		next, _ := msgp.Skip(rest)
		if string(k) != "time" {
			dst = append(dst, p[:len(p)-len(next)]...)
		}
		p = next
	}
	return dst, end, nil
}

// ChunkOption is the "chunk" option for a buffer chunk id (32 hex
// characters): the base64 of its 16 bytes, as Fluentd sends its chunks'
// unique ids. An id that is not hex is sent as it is.
func ChunkOption(id string) string {
	b, err := hex.DecodeString(id)
	if err != nil {
		return id
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Message is one forward-protocol message under construction.
type Message struct {
	Tag     string
	Entries []byte // concatenated entries (AppendEntries)
	Count   int
	Chunk   string // "" when no ack is wanted
	Gzip    bool   // CompressedPackedForward
}

// AppendTo appends the PackedForward (or, with Gzip,
// CompressedPackedForward) message [tag, entries, option] to dst; gz is
// scratch space for the compressed entries.
func (m *Message) AppendTo(dst []byte, gz *bytes.Buffer, level int) ([]byte, error) {
	p, err := m.Frame(nil, gz, level)
	if err != nil {
		return dst, err
	}
	return append(append(append(dst, p.Head...), p.Entries...), p.Tail...), nil
}

// Parts is a message in three pieces, written one after the other
// (net.Buffers), so the entries are not copied.
type Parts struct {
	Head    []byte // array header, tag, bin header
	Entries []byte // the entries as sent (gzip-compressed with Message.Gzip)
	Tail    []byte // the option map
}

// Len is the message's length.
func (p Parts) Len() int { return len(p.Head) + len(p.Entries) + len(p.Tail) }

// Frame builds the message's pieces: Head and Tail are appended to dst,
// Entries is m.Entries or, with Gzip, their compression in gz.
func (m *Message) Frame(dst []byte, gz *bytes.Buffer, level int) (Parts, error) {
	entries := m.Entries
	opts := uint32(1)
	if m.Chunk != "" {
		opts++
	}
	if m.Gzip {
		opts++
		gz.Reset()
		zw, err := gzip.NewWriterLevel(gz, level)
		if err != nil {
			return Parts{}, fmt.Errorf("gzip entries: %w", err)
		}
		if _, err := zw.Write(entries); err != nil {
			return Parts{}, fmt.Errorf("gzip entries: %w", err)
		}
		if err := zw.Close(); err != nil {
			return Parts{}, fmt.Errorf("gzip entries: %w", err)
		}
		entries = gz.Bytes()
	}
	if uint64(len(entries)) > 1<<32-1 {
		return Parts{}, errors.New("entries larger than 4 GiB")
	}
	dst = msgp.AppendArrayHeader(dst[:0], 3)
	dst = msgp.AppendString(dst, m.Tag)
	dst = msgp.AppendBytesHeader(dst, uint32(len(entries)))
	head := len(dst)
	dst = msgp.AppendMapHeader(dst, opts)
	dst = msgp.AppendString(dst, "size")
	dst = msgp.AppendInt(dst, m.Count)
	if m.Chunk != "" {
		dst = msgp.AppendString(dst, "chunk")
		dst = msgp.AppendString(dst, m.Chunk)
	}
	if m.Gzip {
		dst = msgp.AppendString(dst, "compressed")
		dst = msgp.AppendString(dst, "gzip")
	}
	return Parts{Head: dst[:head], Entries: entries, Tail: dst[head:]}, nil
}
