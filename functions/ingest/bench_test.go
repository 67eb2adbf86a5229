package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/klauspost/compress/gzip"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// apacheStream parses testdata/apache_combined_10k.log (a copy of the shared
// corpus) with the forwarder's apache2 parser (cloud.ParseApacheFile) and
// returns the events as one msgpack stream repeated times times, and the
// event count.
func apacheStream(tb testing.TB, times int) ([]byte, int) {
	tb.Helper()
	chunks, n, err := cloud.ParseApacheFile("testdata/apache_combined_10k.log", 1<<30)
	if err != nil || len(chunks) != 1 {
		tb.Fatalf("parse corpus: %d chunks, %v", len(chunks), err)
	}
	return bytes.Repeat(chunks[0], times), n * times
}

// corpusMaps is the parsed corpus (apacheStream) as Go maps.
func corpusMaps(tb testing.TB) []map[string]any {
	tb.Helper()
	raw, _ := apacheStream(tb, 1)
	var evs []map[string]any
	dec := msgpack.NewDecoder(bytes.NewReader(raw))
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return evs
		} else if err != nil {
			tb.Fatal(err)
		}
		evs = append(evs, m)
	}
}

// countingKinesis accepts everything and counts.
type countingKinesis struct{ records, bytes atomic.Int64 }

func (c *countingKinesis) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	for _, r := range in.Records {
		c.records.Add(1)
		c.bytes.Add(int64(len(r.Data)))
	}
	return out, nil
}

func benchHandler(b *testing.B) (*Handler, *countingKinesis) {
	b.Helper()
	env := newEnv(b, nil)
	kin := &countingKinesis{}
	h, err := New(env.cfg, Deps{Kinesis: kin, DynamoDB: env.ddb, Lambda: env.lam,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	return h, kin
}

func benchImport(b *testing.B, repeat int, format string) {
	raw, events := apacheStream(b, repeat)
	body := gzBytes(b, raw)
	if format == tdimport.FormatZstd {
		body = zstdFrames(b, raw, 64<<10) // one frame per 64 KiB, as the forwarder appends
	}
	h, kin := benchHandler(b)
	req := apiReq(http.MethodPut, "/v3/table/import_with_id/testdb/www_access/bench1/"+format, keyWriter, string(body), nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for b.Loop() {
		resp, _ := h.Handle(ctx, req)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d %s", resp.StatusCode, resp.Body)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n/float64(events), "ns/event")
	b.ReportMetric(float64(events)/(float64(kin.records.Load())/n), "events/record")
	b.ReportMetric(float64(len(body)), "body-bytes")
	b.ReportMetric(float64(kin.bytes.Load())/n, "kinesis-bytes")
}

// BenchmarkHandlerImport: the corpus as one TD import (fits one record:
// the client's gzip passes through).
func BenchmarkHandlerImport(b *testing.B) { benchImport(b, 1, tdimport.FormatGzip) }

// BenchmarkHandlerImportZstd: the corpus as one msgpack.zst import (64 KiB
// frames, as the forwarder writes them; fits one record: the client's zstd
// passes through).
func BenchmarkHandlerImportZstd(b *testing.B) { benchImport(b, 1, tdimport.FormatZstd) }

// BenchmarkHandlerImportSplit: the corpus five times over (> 1 MiB gzipped),
// so the handler re-compresses it into several parts.
func BenchmarkHandlerImportSplit(b *testing.B) { benchImport(b, 5, tdimport.FormatGzip) }

// BenchmarkHandlerImportSplitZstd: the corpus five times over as msgpack.zst
// (64 KiB frames, > 1 MiB), cut into parts like the gzip one.
func BenchmarkHandlerImportSplitZstd(b *testing.B) { benchImport(b, 5, tdimport.FormatZstd) }

// BenchmarkCompressPart compares the part encodings on one group: the
// corpus (2.44 MB of msgpack, about what one part holds) compressed once,
// on one goroutine.
func BenchmarkCompressPart(b *testing.B) {
	raw, _ := apacheStream(b, 1)
	for _, enc := range []string{envelope.EncodingGzip, envelope.EncodingZstd} {
		b.Run(enc, func(b *testing.B) {
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				out = compress(enc, raw)
			}
			b.ReportMetric(float64(len(out)), "payload-bytes")
		})
	}
}

// BenchmarkSplitParts times the split step alone (grouping and compressing
// the parts, in parallel as the handler does) for each part encoding, on the
// corpus five times over, with the groups sized from a gzip body's ratio and
// from a zstd body's (64 KiB frames). It is how splitEncoding was chosen.
func BenchmarkSplitParts(b *testing.B) {
	raw, events := apacheStream(b, 5)
	bt, aerr := decodeMsgpackStream(raw, DefaultLimits())
	if aerr != nil {
		b.Fatal(aerr)
	}
	budget := partBudget
	bodies := []struct {
		name string
		body []byte
		enc  string
	}{
		{"gzip-body", gzBytes(b, raw), envelope.EncodingGzip},
		{"zstd-body", zstdFrames(b, raw, 64<<10), envelope.EncodingZstd},
	}
	for _, body := range bodies {
		for _, enc := range []string{envelope.EncodingGzip, envelope.EncodingZstd} {
			b.Run(body.name+"/parts="+enc, func(b *testing.B) {
				var parts []part
				b.ReportAllocs()
				b.SetBytes(int64(len(raw)))
				for b.Loop() {
					if parts, aerr = splitParts(bt, body.body, body.enc, enc, budget); aerr != nil {
						b.Fatal(aerr)
					}
				}
				total := 0
				for _, p := range parts {
					total += len(p.payload)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(events), "ns/event")
				b.ReportMetric(float64(len(parts)), "parts")
				b.ReportMetric(float64(total), "payload-bytes")
			})
		}
	}
}

// rawDecode is the raw limit: gunzip plus a full msgpack decode of the body,
// nothing else. It returns the number of events.
func rawDecode(b *testing.B, body []byte) int {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	dec := msgpack.NewDecoder(zr)
	events := 0
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		events++
	}
	return events
}

// BenchmarkRawLimit is the floor the handler is compared with.
func BenchmarkRawLimit(b *testing.B) {
	raw, _ := apacheStream(b, 1)
	body := gzBytes(b, raw)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	events := 0
	for b.Loop() {
		events = rawDecode(b, body)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(events), "ns/event")
}

// BenchmarkVersusRawLimit alternates the raw limit and the handler on the
// same body in every iteration, so machine load hits both alike, and reports
// the handler's speed as a percentage of the raw limit's (>100 = faster).
func BenchmarkVersusRawLimit(b *testing.B) {
	for _, repeat := range []int{1, 5} {
		b.Run("corpus_x"+strconv.Itoa(repeat), func(b *testing.B) {
			raw, events := apacheStream(b, repeat)
			body := gzBytes(b, raw)
			h, _ := benchHandler(b)
			req := apiReq(http.MethodPut, "/v3/table/import_with_id/testdb/www_access/bench1/msgpack.gz", keyWriter, string(body), nil)
			var tRaw, tHandler time.Duration
			for b.Loop() {
				t0 := time.Now()
				rawDecode(b, body)
				t1 := time.Now()
				if resp, _ := h.Handle(context.Background(), req); resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
				tRaw += t1.Sub(t0)
				tHandler += time.Since(t1)
			}
			b.ReportMetric(100*float64(tRaw)/float64(tHandler), "%-of-raw-speed")
			b.ReportMetric(float64(tHandler.Nanoseconds())/float64(b.N)/float64(events), "handler-ns/event")
			b.ReportMetric(float64(tRaw.Nanoseconds())/float64(b.N)/float64(events), "raw-ns/event")
		})
	}
}

// BenchmarkHandlerInHTTPJSON: the parsed corpus as one application/json array.
func BenchmarkHandlerInHTTPJSON(b *testing.B) {
	evs := corpusMaps(b)
	js, err := json.Marshal(evs)
	if err != nil {
		b.Fatal(err)
	}
	body := string(js)
	h, kin := benchHandler(b)
	req := apiReq(http.MethodPost, "/td.testdb.www_access", keyWriter, body, map[string]string{"content-type": "application/json"})
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp, _ := h.Handle(ctx, req)
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d %s", resp.StatusCode, resp.Body)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n/float64(len(evs)), "ns/event")
	b.ReportMetric(float64(len(evs))/(float64(kin.records.Load())/n), "events/record")
}
