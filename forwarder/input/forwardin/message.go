package forwardin

// This file decodes forward messages: Message, Forward, PackedForward and
// CompressedPackedForward modes, entries and the option map.

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// decoded is one forward message's content.
type decoded struct {
	tag     string
	records []byte // concatenated msgpack maps with an integer "time"
	count   int
	chunk   []byte // option chunk (nil: no ack wanted)
}

// DecodeMessage decodes one complete msgpack forward message (Message,
// Forward, PackedForward or CompressedPackedForward mode) into the
// concatenated records (appended to dst, each with an integer "time"; time
// 0 becomes now), their count, the tag and the option chunk (nil when no
// ack is requested). Invalid entries are skipped; an error means the
// message itself is malformed.
func DecodeMessage(msg, dst []byte, now int64, maxDecompressed int64) (tag string, records []byte, count int, chunk []byte, err error) {
	s := &Server{cfg: Config{MaxDecompressedBytes: maxDecompressed}}
	if n, err := objLen(msg); err != nil || n != len(msg) {
		return "", dst, 0, nil, fmt.Errorf("message is not exactly one msgpack object")
	}
	d, err := s.decodeMessage(msg, dst, now)
	return d.tag, d.records, d.count, d.chunk, err
}

func (s *Server) decodeMessage(msg, dst []byte, now int64) (decoded, error) {
	d := decoded{records: dst}
	n, body, ok := arrayLen(msg)
	if !ok || n < 2 || n > 4 {
		return d, fmt.Errorf("message is not an array of 2 to 4 elements")
	}
	tagObj, body, err := split(body)
	if err != nil {
		return d, err
	}
	tagB, ok := rawString(tagObj)
	if !ok {
		return d, fmt.Errorf("tag is not a string")
	}
	d.tag = string(tagB)
	second, body, err := split(body)
	if err != nil {
		return d, err
	}
	var entries, record, optObj []byte
	mode := ""
	switch {
	case isArray(second):
		mode, entries = "forward", second
	case isStrOrBin(second):
		mode, entries = "packed", second
	default:
		mode = "message"
		if n < 3 {
			return d, fmt.Errorf("message mode needs a record")
		}
		if record, body, err = split(body); err != nil {
			return d, err
		}
		n--
	}
	if n >= 3 {
		if optObj, _, err = split(body); err != nil {
			return d, err
		}
	}
	opt := parseOption(optObj)
	d.chunk = opt.chunk
	add := func(timeObj, rec []byte) {
		if isNil(rec) {
			return
		}
		t, err := tdrecord.RawSeconds(timeObj)
		if err != nil || !isMap(rec) {
			s.st.invalid.Add(1)
			return
		}
		if t == 0 {
			t = now
		}
		out, err := tdrecord.AppendRawRecord(d.records, rec, t)
		if err != nil {
			s.st.invalid.Add(1)
			return
		}
		d.records = out
		d.count++
	}
	switch mode {
	case "message":
		add(second, record)
	case "forward":
		k, es, _ := arrayLen(entries)
		for i := 0; i < k; i++ {
			var e []byte
			if e, es, err = split(es); err != nil {
				return d, err
			}
			if err := addEntry(e, add, s); err != nil {
				return d, err
			}
		}
	case "packed":
		stream, _ := rawString(entries)
		if opt.compressed == "gzip" {
			if stream, err = gunzip(stream, s.cfg.MaxDecompressedBytes); err != nil {
				return d, err
			}
		}
		for len(stream) > 0 {
			var e []byte
			if e, stream, err = split(stream); err != nil {
				return d, fmt.Errorf("packed entries: %w", err)
			}
			if err := addEntry(e, add, s); err != nil {
				return d, err
			}
		}
	}
	return d, nil
}

func addEntry(e []byte, add func(t, r []byte), s *Server) error {
	k, eb, ok := arrayLen(e)
	if !ok || k < 2 {
		s.st.invalid.Add(1)
		return nil
	}
	t, eb, err := split(eb)
	if err != nil {
		return err
	}
	r, _, err := split(eb)
	if err != nil {
		return err
	}
	// Fluent Bit's v2 event format puts [time, metadata] where the time goes.
	if k, tb, ok := arrayLen(t); ok && k >= 1 {
		if t, _, err = split(tb); err != nil {
			return err
		}
	}
	add(t, r)
	return nil
}

type option struct {
	chunk      []byte
	compressed string
}

func parseOption(obj []byte) option {
	var o option
	n, body, ok := mapLen(obj)
	if !ok {
		return o
	}
	for i := 0; i < n; i++ {
		k, r, err := split(body)
		if err != nil {
			return o
		}
		v, r2, err := split(r)
		if err != nil {
			return o
		}
		body = r2
		ks, _ := rawString(k)
		switch string(ks) {
		case "chunk":
			if vs, ok := rawString(v); ok {
				o.chunk = append([]byte{}, vs...)
			}
		case "compressed":
			if vs, ok := rawString(v); ok {
				o.compressed = string(vs)
			}
		}
	}
	return o
}

func isStrOrBin(obj []byte) bool {
	_, ok := rawString(obj)
	return ok
}

func gunzip(b []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("compressed entries: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("compressed entries: %w", err)
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("%w: entries inflate to more than %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}
