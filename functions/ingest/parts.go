package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/kinesisput"
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
	payload []byte // gzip(msgpack map stream)
}

// payloadBudget returns the largest payload that keeps e's record (data and
// partition key) within Kinesis' 1 MiB.
func payloadBudget(e envelope.Envelope) int {
	e.Payload = nil
	e.Part, e.Parts = 1<<20, 1<<20 // widest encodings of the numbers that change
	e.Events = 1 << 30
	data, err := envelope.Marshal(&e)
	if err != nil {
		return maxRecordPayload
	}
	return envelope.MaxRecordBytes - len(data) - 5 /* bin32 header */ - kinesisput.MaxPartitionKey
}

// splitParts groups the events of b into gzip payloads of at most budget
// bytes each. orig, when not nil, is the client's own gzip of b.raw and is
// passed through unchanged when it fits in one part.
func splitParts(b *batch, orig []byte, budget int) ([]part, *apiError) {
	if b.events() == 0 {
		return nil, nil
	}
	if orig != nil && len(orig) <= budget {
		return []part{{events: b.events(), payload: orig}}, nil
	}
	// Aim each group's uncompressed size at what should compress to ~85% of
	// the budget; groups that still come out too big are halved.
	target := budget * 3
	if len(orig) > 0 {
		target = int(float64(budget) * 0.85 * float64(len(b.raw)) / float64(len(orig)))
	}
	if target < 1 {
		target = 1
	}
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
			out[i], errs[i] = compressGroup(b, g.start, g.end, budget)
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
	return parts, nil
}

// offset returns where event i starts.
func (b *batch) offset(i int) int {
	if i == 0 {
		return 0
	}
	return b.ends[i-1]
}

// compressGroup compresses events [start,end) and halves the group until
// every piece fits the budget.
func compressGroup(b *batch, start, end, budget int) ([]part, *apiError) {
	payload := gzipBytes(b.raw[b.offset(start):b.ends[end-1]])
	if len(payload) <= budget {
		return []part{{events: end - start, payload: payload}}, nil
	}
	if end-start == 1 {
		return nil, reject(http.StatusRequestEntityTooLarge, reasonRecordTooLarge, "event %d compresses to %d bytes, more than fits one Kinesis record (%d)", start, len(payload), budget)
	}
	mid := start + (end-start)/2
	left, aerr := compressGroup(b, start, mid, budget)
	if aerr != nil {
		return nil, aerr
	}
	right, aerr := compressGroup(b, mid, end, budget)
	if aerr != nil {
		return nil, aerr
	}
	return append(left, right...), nil
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// gzipBytes returns the gzip of p.
func gzipBytes(p []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(p)/4 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	_, _ = zw.Write(p) // writes to a bytes.Buffer cannot fail
	_ = zw.Close()
	gzipWriters.Put(zw)
	return buf.Bytes()
}

// records builds the Kinesis entries for the parts of one request.
func records(meta envelope.Envelope, parts []part) ([]types.PutRecordsRequestEntry, error) {
	out := make([]types.PutRecordsRequestEntry, 0, len(parts))
	for i, p := range parts {
		e := meta
		e.Part, e.Parts, e.Events, e.Payload = i, len(parts), p.events, p.payload
		e.Encoding = envelope.EncodingGzip
		data, err := envelope.Marshal(&e)
		if err != nil {
			return nil, fmt.Errorf("marshal part %d of %d: %w", i, len(parts), err)
		}
		out = append(out, types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(envelope.PartitionKey(&e))})
	}
	return out, nil
}
