package tdrecord

import (
	"errors"
	"fmt"
)

// Kind classifies a failure so that each caller can map it to its own
// answer (ingest's HTTP status and reason, fanout's quarantine reason).
type Kind int

// Failure kinds.
const (
	KindBadMsgpack             Kind = iota + 1 // truncated or invalid msgpack, non-string keys, extension types
	KindNotMap                                 // an event (or in_http record) is not a map
	KindTooManyKeys                            // an event has more than Limits.MaxKeys keys
	KindTooDeep                                // nesting deeper than Limits.MaxDepth
	KindRecordTooLarge                         // an event is over Limits.MaxRecordBytes
	KindTooManyEvents                          // more than Limits.MaxEvents events
	KindTimeMissing                            // an event has no "time"
	KindTimeInvalid                            // a "time" that is not a valid number of seconds
	KindDecompressedTooLarge                   // decompressed data over Limits.MaxDecompressedBytes
	KindRatio                                  // decompressed data over Limits.MaxCompressionRatio times the input
	KindBadCompression                         // not gzip / zstd / deflate, or a corrupt stream
	KindUnsupportedCompression                 // an unknown compression or Content-Encoding
	KindUnsupportedType                        // an in_http Content-Type that carries no records
	KindBadJSON                                // invalid JSON in an in_http request
	KindNoData                                 // an in_http request without json=, ndjson= or msgpack=, or a bad query or form
	KindInternal                               // the decoder could not start
)

var kindNames = map[Kind]string{
	KindBadMsgpack: "bad_msgpack", KindNotMap: "not_map", KindTooManyKeys: "too_many_keys",
	KindTooDeep: "too_deep", KindRecordTooLarge: "record_too_large", KindTooManyEvents: "too_many_events",
	KindTimeMissing: "time_missing", KindTimeInvalid: "time_invalid",
	KindDecompressedTooLarge: "decompressed_too_large", KindRatio: "compression_ratio",
	KindBadCompression: "bad_compression", KindUnsupportedCompression: "unsupported_compression",
	KindUnsupportedType: "unsupported_type", KindBadJSON: "bad_json", KindNoData: "no_data",
	KindInternal: "internal",
}

// String returns the kind's snake_case name.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is every failure of this package. Msg is written for the client
// that sent the data (ingest answers it verbatim); Err, when set, is the
// underlying cause.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

// Error returns Msg.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func fail(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the Kind of the *Error in err's chain, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// Limits bound what one stream may carry. A zero MaxCompressionRatio
// disables the ratio check; every other field must be positive.
type Limits struct {
	MaxDecompressedBytes int // data after gunzip/unzstd/inflate
	MaxCompressionRatio  int // decompressed/compressed, checked beyond RatioFloorBytes
	RatioFloorBytes      int // decompressed size below which the ratio is not checked
	MaxRecordBytes       int // one event's msgpack encoding
	MaxKeys              int // top-level keys of one event (TD: 512)
	MaxDepth             int // nesting depth of maps/arrays inside an event
	MaxEvents            int // events per stream
}

// DefaultLimits are the limits ingest applies to a request.
func DefaultLimits() Limits {
	return Limits{
		MaxDecompressedBytes: 128 << 20, // ingest needs ~2x this in memory
		MaxCompressionRatio:  200,
		RatioFloorBytes:      1 << 20,
		MaxRecordBytes:       1_000_000, // fits a Kinesis record once compressed, whatever the data
		MaxKeys:              512,
		MaxDepth:             32,
		MaxEvents:            1_000_000,
	}
}

// Ceilings of the limits a producer may configure: StoreLimits accepts up
// to these, so whatever a producer accepts within them can be stored.
const (
	MaxKeysCeiling  = 4096
	MaxDepthCeiling = 64
)

// StoreLimits are the limits a stored stream is checked against (fanout):
// maxDecompressed bytes, no ratio check (the producer checked the ratio of
// what its client sent), and the ceilings for keys and depth, so every
// stream a producer accepted within the ceilings is stored.
func StoreLimits(maxDecompressed int) Limits {
	return Limits{
		MaxDecompressedBytes: maxDecompressed,
		MaxRecordBytes:       maxDecompressed,
		MaxKeys:              MaxKeysCeiling,
		MaxDepth:             MaxDepthCeiling,
		MaxEvents:            maxDecompressed, // every event takes at least one byte
	}
}
