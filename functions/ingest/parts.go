package ingest

import (
	"fmt"
	"math"
	"net/http"
	"runtime"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/kinesisput"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// envelopeOverhead bounds an envelope's bytes other than its payload: field
// names, db and table (255 each), unique_id (128), producer (clipped to 256)
// and numbers.
const envelopeOverhead = 2048

// maxRecordPayload is the largest compressed payload any envelope may carry.
const maxRecordPayload = envelope.MaxRecordBytes - envelopeOverhead - kinesisput.MaxPartitionKey

// maxProducer clips the producer field.
const maxProducer = 256

// part is one envelope's payload.
type part struct {
	events  int
	enc     string // envelope.EncodingGzip or envelope.EncodingZstd
	payload []byte // msgpack map stream compressed as enc says
}

// splitEncoding is how ingest compresses the payloads it makes itself (a
// body cut into parts, in_http posts): zstd SpeedFastest, measured cheaper
// than gzip BestSpeed and smaller on the 10k corpus (BENCH.md,
// BenchmarkSplitParts).
const splitEncoding = envelope.EncodingZstd

// partBudget is the largest payload of any part: what keeps a record (data
// and partition key) within Kinesis' 1 MiB beside the largest metadata any
// request may bring (db and table of 255 characters, a 128-character
// unique_id, a producer clipped to maxProducer, the widest numbers). It does
// not depend on the request's own metadata, so a retry of the same records
// from another address or under another X-Spillway-Producer splits the same.
var partBudget = payloadBudget()

// payloadBudget computes partBudget.
func payloadBudget() int {
	e := envelope.Envelope{
		DB: strings.Repeat("d", names.MaxLen), Table: strings.Repeat("t", names.MaxLen),
		UniqueID: strings.Repeat("u", maxUniqueID), Producer: strings.Repeat("p", maxProducer),
		Encoding: envelope.EncodingGzip, // as long as EncodingZstd
		Part:     1 << 20, Parts: 1 << 20, Events: 1 << 30, ReceivedMS: math.MaxInt64,
	}
	data, err := envelope.Marshal(&e)
	if err != nil {
		return maxRecordPayload
	}
	return envelope.MaxRecordBytes - len(data) - 5 /* bin32 header */ - kinesisput.MaxPartitionKey
}

// probeMax bounds the prefix of a stream ingest compresses to learn its
// ratio before cutting it into parts.
const probeMax = 4 << 20

// surelyFits reports whether n bytes compress within budget whatever they
// hold: zstd's worst case (raw blocks) adds 3 bytes per 128 KiB block and
// a frame header and checksum.
func surelyFits(n, budget int) bool {
	return n+n>>7+1024 <= budget
}

// splitParts groups the events of b into payloads of at most budget bytes
// each, compressed as enc says. Where the parts fall depends only on the
// records (b.raw) and budget, never on how the client compressed them:
// ingest's own compression decides, so a gzip and a zstd send of the same
// records (one retried as the other) map to the same parts. orig, when not
// nil, is the client's own compression of b.raw (origEnc: gzip or zstd); it
// is passed through unchanged when the records make one part and it fits.
func splitParts(b *batch, orig []byte, origEnc, enc string, budget int) ([]part, *apiError) {
	if b.events() == 0 {
		return nil, nil
	}
	whole := func(own []byte) []part {
		if orig != nil && len(orig) <= budget {
			return []part{{events: b.events(), enc: origEnc, payload: orig}}
		}
		if own == nil {
			own = compress(enc, b.raw)
		}
		return []part{{events: b.events(), enc: enc, payload: own}}
	}
	if surelyFits(len(b.raw), budget) {
		return whole(nil), nil
	}
	// Learn the records' ratio from ingest's own compression of (a prefix
	// of) them, and aim each group's uncompressed size at what should
	// compress to ~85% of the budget, and at most envelope.MaxPayloadRaw
	// (what fanout accepts); groups that still come out too big are halved.
	probe := b.raw[:min(len(b.raw), probeMax)]
	cp := compress(enc, probe)
	if len(probe) == len(b.raw) && len(b.raw) <= envelope.MaxPayloadRaw && len(cp) <= budget {
		return whole(cp), nil
	}
	target := int(float64(budget) * 0.85 * float64(len(probe)) / float64(max(len(cp), 1)))
	target = max(min(target, envelope.MaxPayloadRaw), 1)
	type group struct{ start, end int }
	var groups []group
	for start := 0; start < b.events(); {
		end := start
		from := b.offset(start)
		for end < b.events() && (end == start || b.ends[end]-from <= target) {
			end++
		}
		groups = append(groups, group{start, end})
		start = end
	}
	// Compress the groups in parallel (a Lambda with >= 1,769 MB has 2+ vCPUs).
	out := make([][]part, len(groups))
	errs := make([]*apiError, len(groups))
	var eg errgroup.Group
	eg.SetLimit(runtime.GOMAXPROCS(0))
	for i, g := range groups {
		eg.Go(func() error {
			out[i], errs[i] = compressGroup(b, g.start, g.end, enc, budget)
			return nil
		})
	}
	_ = eg.Wait()
	var parts []part
	for i := range groups {
		if errs[i] != nil {
			return nil, errs[i]
		}
		parts = append(parts, out[i]...)
	}
	if len(parts) == 1 && len(b.raw) <= envelope.MaxPayloadRaw {
		return whole(parts[0].payload), nil
	}
	return parts, nil
}

// offset returns where event i starts.
func (b *batch) offset(i int) int {
	if i == 0 {
		return 0
	}
	return b.ends[i-1]
}

// compressGroup compresses events [start,end) as enc says and halves the
// group until every piece fits the budget.
func compressGroup(b *batch, start, end int, enc string, budget int) ([]part, *apiError) {
	payload := compress(enc, b.raw[b.offset(start):b.ends[end-1]])
	if len(payload) <= budget {
		return []part{{events: end - start, enc: enc, payload: payload}}, nil
	}
	if end-start == 1 {
		return nil, reject(http.StatusRequestEntityTooLarge, reasonRecordTooLarge, "event %d compresses to %d bytes, more than fits one Kinesis record (%d)", start, len(payload), budget)
	}
	mid := start + (end-start)/2
	left, aerr := compressGroup(b, start, mid, enc, budget)
	if aerr != nil {
		return nil, aerr
	}
	right, aerr := compressGroup(b, mid, end, enc, budget)
	if aerr != nil {
		return nil, aerr
	}
	return append(left, right...), nil
}

// compress returns p compressed as enc (envelope.EncodingZstd or, for
// anything else, EncodingGzip) says.
func compress(enc string, p []byte) []byte {
	if enc == envelope.EncodingZstd {
		return zstdBytes(p)
	}
	return tdrecord.GzipStreamLevel(gzip.BestSpeed, p)
}

// partWindow is the window of the zstd frames ingest writes: 1 MiB, as the
// forwarder's frames, well within the 8 MiB readers accept; a larger window
// costs each pooled encoder memory and gains little on log lines.
const partWindow = 1 << 20

// zstdEncoders holds idle *zstd.Encoder used only through EncodeAll with
// concurrency 1 (no goroutines: an idle one in the pool is simply
// collected), SpeedFastest, with checksums.
var zstdEncoders = sync.Pool{New: func() any {
	// The options are constant and valid, so NewWriter cannot fail.
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(partWindow), zstd.WithEncoderCRC(true))
	return e
}}

// zstdBytes returns p as one zstd frame.
func zstdBytes(p []byte) []byte {
	e := zstdEncoders.Get().(*zstd.Encoder)
	out := e.EncodeAll(p, make([]byte, 0, len(p)/4+64))
	zstdEncoders.Put(e)
	return out
}

// records builds the Kinesis entries for the parts of one request.
func records(meta envelope.Envelope, parts []part) ([]types.PutRecordsRequestEntry, error) {
	out := make([]types.PutRecordsRequestEntry, 0, len(parts))
	for i, p := range parts {
		e := meta
		e.Part, e.Parts, e.Events, e.Payload, e.Encoding = i, len(parts), p.events, p.payload, p.enc
		data, err := envelope.Marshal(&e)
		if err != nil {
			return nil, fmt.Errorf("marshal part %d of %d: %w", i, len(parts), err)
		}
		out = append(out, types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(envelope.PartitionKey(&e))})
	}
	return out, nil
}
