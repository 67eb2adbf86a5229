// Package envelope owns the Kinesis record format (version 1) that ingest
// writes and fanout (or any user consumer) reads. See docs/kinesis-record-format.md.
//
// A record's Data is the 4-byte magic "SPW1" followed by one msgpack map
// (Envelope). The payload inside is a stream of msgpack maps, each with an
// integer "time", compressed as the envelope's Encoding says: gzip (then it
// is byte for byte a Treasure Data import body) or zstd.
package envelope

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Version is the envelope version this package writes.
const Version = 1

// MaxRecordBytes is Kinesis' limit on one record's data plus partition key.
const MaxRecordBytes = 1 << 20

// MaxPayloadRaw bounds a payload once decompressed: writers never build a
// part larger, and readers accept at least this much (fanout's default
// limit), so a part accepted by ingest is never refused downstream.
const MaxPayloadRaw = 64 << 20

// Payload encodings (the "enc" field). A reader that meets one it does not
// know gets ErrInvalid from Unmarshal.
const (
	// EncodingGzip marks a payload compressed with gzip (one or more
	// members): a Treasure Data msgpack.gz import body.
	EncodingGzip = "gzip"
	// EncodingZstd marks a payload compressed with zstd (one or more frames,
	// skippable frames allowed, each window at most 8 MiB).
	EncodingZstd = "zstd"
)

var magic = []byte("SPW1")

// Sentinel errors returned by Unmarshal.
var (
	// ErrNotEnvelope means the data does not start with the envelope magic.
	ErrNotEnvelope = errors.New("not a spillway envelope")
	// ErrInvalid means the magic matched but the envelope is malformed.
	ErrInvalid = errors.New("invalid spillway envelope")
)

// Envelope is one Kinesis record: one part of one accepted request.
type Envelope struct {
	DB         string `msgpack:"db"`
	Table      string `msgpack:"table"`
	UniqueID   string `msgpack:"uid"`         // TD unique_id of the request (given or derived from the body hash)
	Part       int    `msgpack:"part"`        // 0-based part number
	Parts      int    `msgpack:"parts"`       // number of parts of the request
	Producer   string `msgpack:"producer"`    // who sent it (forwarder host or client address)
	Events     int    `msgpack:"events"`      // events in Payload
	ReceivedMS int64  `msgpack:"received_ms"` // ingest time, Unix milliseconds
	Encoding   string `msgpack:"enc"`         // payload compression: EncodingGzip or EncodingZstd
	Payload    []byte `msgpack:"payload"`     // msgpack map stream compressed as Encoding says
}

// Marshal encodes e with the magic prefix.
func Marshal(e *Envelope) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(e.Payload) + 256)
	buf.Write(magic)
	enc := msgpack.NewEncoder(&buf)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode envelope %s part %d: %w", e.UniqueID, e.Part, err)
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes data written by Marshal and checks its fields.
func Unmarshal(data []byte) (*Envelope, error) {
	if !bytes.HasPrefix(data, magic) {
		return nil, ErrNotEnvelope
	}
	var e Envelope
	if err := msgpack.Unmarshal(data[len(magic):], &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	return &e, nil
}

func (e *Envelope) check() error {
	switch {
	case e.DB == "" || e.Table == "":
		return fmt.Errorf("%w: missing db or table", ErrInvalid)
	case e.UniqueID == "":
		return fmt.Errorf("%w: missing uid", ErrInvalid)
	case e.Parts < 1 || e.Part < 0 || e.Part >= e.Parts:
		return fmt.Errorf("%w: part %d of %d", ErrInvalid, e.Part, e.Parts)
	case e.Encoding != EncodingGzip && e.Encoding != EncodingZstd:
		return fmt.Errorf("%w: unknown payload encoding %q", ErrInvalid, e.Encoding)
	case e.Events < 0:
		return fmt.Errorf("%w: negative event count", ErrInvalid)
	}
	return nil
}

// MaxPartitionKey is Kinesis' limit on a partition key, in characters.
const MaxPartitionKey = 256

// PartitionKey is the Kinesis partition key for e: parts of one request
// spread over shards, and a retry of the same part maps to the same shard.
// Keys longer than MaxPartitionKey (long names) are replaced by "h." and the
// hex SHA-256 of the key. Consumers identify parts by PartID, never by this.
func PartitionKey(e *Envelope) string {
	k := PartID(e)
	if len(k) <= MaxPartitionKey {
		return k
	}
	s := sha256.Sum256([]byte(k))
	return "h." + hex.EncodeToString(s[:])
}

// PartID is the deterministic identity of one part, used for dedup ledger
// keys and staged object names.
func PartID(e *Envelope) string {
	return fmt.Sprintf("%s.%s.%s.%d", e.DB, e.Table, e.UniqueID, e.Part)
}
