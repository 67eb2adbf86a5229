package ingest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
)

// BenchmarkFronts is the whole function per event for each way a body
// reaches it, from the invocation payload (the event JSON the Lambda
// runtime hands over, base64 included) to the Kinesis write: the TD import
// path through the HTTP API and the REST API, and the shippers' in_http
// paths, compressed JSON through the REST API being the one the REST front
// adds. The 10k Apache corpus in each request. See BENCHMARKS.md.
func BenchmarkFronts(b *testing.B) {
	raw, n := apacheStream(b, 1)
	// The corpus as Fluent Bit sends it: each record with json_date_key
	// "date" (double, the default json_date_format).
	withDate := corpusMaps(b)
	for _, m := range withDate {
		m["date"] = float64(toInt(m["time"])) + 0.25
		delete(m, "time")
	}
	jsonArray, err := json.Marshal(withDate)
	if err != nil {
		b.Fatal(err)
	}
	var lines []byte
	for _, m := range withDate {
		l, _ := json.Marshal(m)
		lines = append(append(lines, l...), '\n')
	}
	imp := gzBytes(b, raw)
	b64 := base64.StdEncoding.EncodeToString
	ct := func(t string) map[string]string {
		return map[string]string{"Content-Type": t, "Content-Encoding": "gzip"}
	}
	importPath := "/v3/table/import_with_id/testdb/www_access/bench1/msgpack.gz"
	inHTTP := "/td.testdb.www_access?time_key=date"
	cases := []struct {
		name    string
		rest    bool
		method  string
		path    string
		body    []byte
		headers map[string]string
	}{
		{"td_import_msgpack_gz/http_api", false, http.MethodPut, importPath, imp, map[string]string{"Content-Type": "application/octet-stream"}},
		{"td_import_msgpack_gz/rest_api", true, http.MethodPut, importPath, imp, map[string]string{"Content-Type": "application/octet-stream"}},
		{"fluentbit_json_gzip/rest_api", true, http.MethodPost, inHTTP, gzBytes(b, jsonArray), ct("application/json")},
		{"fluentbit_json_lines_gzip/http_api", false, http.MethodPost, inHTTP, gzBytes(b, lines), ct("application/x-ndjson")},
		{"fluentbit_json_lines_gzip/rest_api", true, http.MethodPost, inHTTP, gzBytes(b, lines), ct("application/x-ndjson")},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var ev any
			if c.rest {
				ev = restReq(c.method, c.path, keyWriter, b64(c.body), true, c.headers)
			} else {
				r := apiReq(c.method, c.path, keyWriter, b64(c.body), c.headers)
				r.IsBase64Encoded = true // binary Content-Types
				ev = r
			}
			payload, err := json.Marshal(ev)
			if err != nil {
				b.Fatal(err)
			}
			h, _ := benchHandler(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				out, err := h.Invoke(ctx, payload)
				if err != nil || !bytes.Contains(out, []byte(`"statusCode":200`)) {
					b.Fatalf("%v %.300s", err, out)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}
