// Package tdrecord owns the Treasure Data import record stream: a gzip or
// zstd compression of a stream of msgpack maps, each with an integer "time"
// (Unix seconds). It is the one codec of that stream; ingest, fanout, the
// forwarder inputs and the test receivers call it instead of walking the
// bytes themselves.
//
// By concern:
//
//   - decompress.go: Gunzip, Unzstd, Inflate and Decompress, within Limits
//     (decompressed size, compression ratio, zstd window).
//   - walk.go: Walker validates a decompressed stream in place without
//     allocating (map per event, string keys, depth, keys, record size,
//     event count, integer time) and reports each event's bounds and time,
//     and optionally each top-level column's type.
//   - encode.go: AppendRecord and AppendRawRecord write one event with its
//     integer time; Decode turns a validated stream into maps.
//   - gzip.go: GzipStream, the deterministic gzip of a record stream
//     (staged and sealed objects, ingest's Kinesis payloads, test imports).
//   - time.go: the one time normalisation (Seconds, ParseSeconds,
//     RawSeconds).
//   - inhttp.go: Fluentd in_http request decoding (DecodeInHTTP).
//
// Failures are *Error values whose Kind the caller maps to its own answer
// (ingest: an HTTP status and reason; fanout: quarantine).
//
// # Numeric edge rules
//
// One rule for every entry point (ingest, fanout, in_http, in_forward):
//
//   - The "time" of a stored event is a msgpack integer in the int64 range:
//     any int8..int64, and uint8..uint64 up to 2^63-1. A uint64 at or over
//     2^63 is invalid. (Fanout used to refuse uint64 times over 2^62 that
//     ingest accepted, quarantining a whole accepted part.)
//   - A float time (msgpack float32/float64, JSON number with a fraction or
//     exponent) is floored to whole seconds; NaN, +-Inf and values whose
//     floor is outside [-2^63, 2^63) are invalid.
//   - The Fluentd EventTime extension (type 0, 8 bytes) gives its seconds;
//     the nanoseconds are dropped, the stream carries whole seconds.
//   - Strings are times only where Fluentd accepts them: the in_http "time"
//     query or form parameter (an integer or a decimal number of seconds).
//     A string record "time" is invalid (Fluentd's Time.at refuses it). A
//     time parameter of 0 means "now", as in Fluentd; one that is not a
//     number is an error (Fluentd would silently use now).
//   - A nil record "time" in in_http means "now", as in Fluentd; a time of
//     0 in in_forward means "now", as in Fluentd.
//   - JSON numbers in records: an integer literal that fits int64 becomes
//     int64, one that fits uint64 becomes uint64; anything else becomes a
//     float64, except a number that overflows float64 (1e999, which would be
//     +-Inf), which is kept as its literal string: msgpack can hold +-Inf
//     but JSON cannot, and the text loses nothing.
package tdrecord
