package fanout

import (
	"errors"
	"fmt"
	"math"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// ErrBadPayload is wrapped by every payload decoding error: the part is
// quarantined, never retried.
var ErrBadPayload = errors.New("bad payload")

// Event is one decoded record of a payload: its raw msgpack map bytes and
// its integer event time (Unix seconds).
type Event struct {
	Raw  []byte
	Time int64
}

// DecodePayload decompresses an envelope payload whose encoding is enc
// (envelope.EncodingGzip or EncodingZstd): a stream of msgpack maps, each
// with an integer "time". It reads at most limit decompressed bytes, and
// returns the events in order and the schema of the columns seen. The
// stream is checked by shared/tdrecord with tdrecord.StoreLimits, so every
// stream ingest accepts is decoded. Every failure, an unknown enc included,
// wraps ErrBadPayload.
func DecodePayload(enc string, payload []byte, limit int64) ([]Event, Schema, error) {
	var c tdrecord.Compression
	switch enc {
	case envelope.EncodingGzip:
		c = tdrecord.Gzip
	case envelope.EncodingZstd:
		c = tdrecord.Zstd
	default:
		return nil, nil, fmt.Errorf("%w: unknown payload encoding %q", ErrBadPayload, clip(enc))
	}
	raw, err := tdrecord.Decompress(c, payload, tdrecord.StoreLimits(int(min(limit, math.MaxInt32))), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrBadPayload, enc, err)
	}
	return DecodeStream(raw)
}

// DecodeStream decodes an uncompressed msgpack map stream (checked with
// tdrecord.StoreLimits).
func DecodeStream(raw []byte) ([]Event, Schema, error) {
	schema := Schema{}
	var evs []Event
	w := tdrecord.Walker{
		Limits: tdrecord.StoreLimits(max(len(raw), 1)),
		Column: func(key []byte, t tdrecord.ColumnType) {
			if t == tdrecord.ColumnNil {
				return
			}
			// A lookup by string(key) does not allocate; only a new or
			// widened column is stored.
			if cur, ok := schema[string(key)]; ok && Widen(cur, t.String()) == cur {
				return
			}
			schema.Add(string(key), t.String())
		},
	}
	if _, err := w.Walk(raw, func(ev tdrecord.Event) {
		evs = append(evs, Event{Raw: raw[ev.Start:ev.End:ev.End], Time: ev.Time})
	}); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	return evs, schema, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
