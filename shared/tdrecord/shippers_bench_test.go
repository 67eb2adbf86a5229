package tdrecord

import (
	"strings"
	"testing"
)

// BenchmarkShipperPaths measures each in_http shipper path per event (1000
// events a request, decompression included) next to the TD import path
// (gunzip + Walk of a msgpack map stream), in one run. See BENCHMARKS.md.
func BenchmarkShipperPaths(b *testing.B) {
	const n = 1000
	rec := func(i int) map[string]any {
		r := fixtureRecord(i % 26)
		r["path"] = "/static/" + strings.Repeat("x", i%40)
		return r
	}
	var ndjson, ndjsonDate, msgpackEvents, tdStream []byte
	var arr []map[string]any
	for i := range n {
		r := rec(i)
		r["time"] = int64(1700000000 + i)
		ndjson = append(append(ndjson, mustJSON(b, r)...), '\n')
		tdStream = append(tdStream, mustMsgpack(b, r)...)
		arr = append(arr, r)
		d := rec(i)
		d["date"] = float64(1700000000+i) + 0.25
		ndjsonDate = append(append(ndjsonDate, mustJSON(b, d)...), '\n')
		msgpackEvents = append(msgpackEvents, 0x92, 0x92)
		msgpackEvents = append(msgpackEvents, eventTimeExt(int64(1700000000+i), 0)...)
		msgpackEvents = append(msgpackEvents, 0x80)
		msgpackEvents = append(msgpackEvents, mustMsgpack(b, rec(i))...)
	}
	jsonArr := mustJSON(b, arr)
	paths := []struct {
		name string
		req  InHTTPRequest
	}{
		{"fluentbit_json_time_key", InHTTPRequest{ContentType: "application/json", RawQuery: "time_key=date", Body: []byte("[" + strings.ReplaceAll(strings.TrimSpace(string(ndjsonDate)), "\n", ",") + "]")}},
		{"fluentbit_json_lines_gzip", InHTTPRequest{ContentType: "application/x-ndjson", ContentEncoding: "gzip", RawQuery: "time_key=date", Body: compress(b, "gzip", ndjsonDate)}},
		{"fluentbit_json_lines_zstd", InHTTPRequest{ContentType: "application/x-ndjson", ContentEncoding: "zstd", RawQuery: "time_key=date", Body: compress(b, "zstd", ndjsonDate)}},
		{"fluentbit_json_lines_snappy", InHTTPRequest{ContentType: "application/x-ndjson", ContentEncoding: "snappy", RawQuery: "time_key=date", Body: compress(b, "snappy", ndjsonDate)}},
		{"fluentbit_msgpack_gzip", InHTTPRequest{ContentType: "application/msgpack", ContentEncoding: "gzip", Body: compress(b, "gzip", msgpackEvents)}},
		{"fluentd_ndjson_gzip", InHTTPRequest{ContentType: "application/x-ndjson", ContentEncoding: "gzip", Body: compress(b, "gzip", ndjson)}},
		{"fluentd_msgpack_gzip", InHTTPRequest{ContentType: "application/x-msgpack", ContentEncoding: "gzip", Body: compress(b, "gzip", tdStream)}},
		{"vector_json_deflate", InHTTPRequest{ContentType: "application/json", ContentEncoding: "deflate", Body: compress(b, "deflate", jsonArr)}},
		{"curl_json", InHTTPRequest{ContentType: "application/json", Body: jsonArr}},
	}
	lim := DefaultLimits()
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p.req.Body)))
			for b.Loop() {
				if _, got, err := DecodeInHTTP(p.req, lim); err != nil || got != n {
					b.Fatalf("%d events, %v", got, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
	b.Run("td_import_msgpack_gz", func(b *testing.B) {
		body := compress(b, "gzip", tdStream)
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		w := Walker{Limits: lim}
		var buf []byte
		for b.Loop() {
			raw, err := Gunzip(body, lim, buf)
			if err != nil {
				b.Fatal(err)
			}
			if got, err := w.Walk(raw, nil); err != nil || got != n {
				b.Fatalf("%d events, %v", got, err)
			}
			buf = raw
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
	})
}
