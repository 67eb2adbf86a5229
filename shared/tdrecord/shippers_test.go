package tdrecord

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/internal/testcodec"
)

var update = flag.Bool("update", false, "rewrite testdata/shippers from the documented wire formats")

// shipperFixture describes one request in testdata/shippers: <Name>.json
// holds this struct, <Name>.body the body bytes as the shipper sends them.
type shipperFixture struct {
	Name            string  `json:"name"`
	Shipper         string  `json:"shipper"` // and its setting, for the matrix
	ContentType     string  `json:"content_type"`
	ContentEncoding string  `json:"content_encoding,omitempty"`
	Query           string  `json:"query,omitempty"`
	Events          int     `json:"events"`
	Times           []int64 `json:"times"`         // expected event times
	ThroughAPI      int     `json:"through_api"`   // status through API Gateway (HTTP API) + ingest
	ThroughAPIWhy   string  `json:"why,omitempty"` // for a 4xx: what the message must mention
	ThroughREST     int     `json:"through_rest"`  // status through the REST API (binaryMediaTypes */*) + ingest
	body            []byte
}

// fixtureTimes are the events' times: 2023-11-14T22:13:20Z + i seconds,
// with a fraction (.25) that every path must floor.
func fixtureTimes() []int64 { return []int64{1700000000, 1700000001, 1700000002} }

func fixtureRecord(i int) map[string]any {
	return map[string]any{"host": "web1", "log": "GET /item/" + string(rune('a'+i)) + " HTTP/1.1\" 200", "size": 512 + i}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustMsgpack(tb testing.TB, v any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// eventTimeExt is Fluent's EventTime: msgpack fixext8, type 0, seconds and
// nanoseconds big-endian (the Forward protocol spec, v1).
func eventTimeExt(sec int64, nsec uint32) []byte {
	b := []byte{0xd7, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[2:], uint32(sec))
	binary.BigEndian.PutUint32(b[6:], nsec)
	return b
}

func compress(tb testing.TB, enc string, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	switch enc {
	case "":
		return b
	case "gzip":
		return gz(tb, b)
	case "deflate":
		zw := zlib.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
	case "zstd":
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			tb.Fatal(err)
		}
		_, _ = zw.Write(b)
		_ = zw.Close()
	case "snappy":
		return snappy.Encode(nil, b) // Fluent Bit: flb_snappy_compress, one raw block
	case "snappy-framed":
		zw := snappy.NewBufferedWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
	default:
		tb.Fatalf("unknown encoding %q", enc)
	}
	return buf.Bytes()
}

// shipperFixtures builds each shipper's request from its documented wire
// format (sources in functions/ingest/README.md, "Shippers").
func shipperFixtures(tb testing.TB) []shipperFixture {
	tb.Helper()
	ts := fixtureTimes()
	n := len(ts)
	// Fluent Bit out_http "json": a JSON array of records, the time under
	// json_date_key ("date") as json_date_format says (default double).
	fbJSON := func(date func(i int) any) []byte {
		var recs []map[string]any
		for i := range n {
			r := fixtureRecord(i)
			r["date"] = date(i)
			recs = append(recs, r)
		}
		return mustJSON(tb, recs)
	}
	double := func(i int) any { return float64(ts[i]) + 0.25 }
	iso := func(i int) any { return time0(ts[i]) + ".250000Z" }
	javaSQL := func(i int) any { return strings.Replace(time0(ts[i]), "T", " ", 1) + ".250000" }
	epochMS := func(i int) any { return ts[i]*1000 + 250 }
	lines := func(sep string, rec func(i int) map[string]any) []byte {
		var b []byte
		for i := range n {
			b = append(b, mustJSON(tb, rec(i))...)
			b = append(b, sep...)
		}
		return b
	}
	withDate := func(i int) map[string]any { r := fixtureRecord(i); r["date"] = double(i); return r }
	withTime := func(i int) map[string]any { r := fixtureRecord(i); r["time"] = ts[i]; return r }
	withTimestamp := func(i int) map[string]any {
		r := map[string]any{"message": fixtureRecord(i)["log"], "host": "web1", "source_type": "file", "timestamp": time0(ts[i]) + ".250Z"}
		return r
	}
	// Fluent Bit out_http "msgpack": the chunk as is, events back to back:
	// [[EventTime, metadata], record] (v2.1+) or [EventTime, record].
	fbMsgpack := func(v2 bool) []byte {
		var b []byte
		for i := range n {
			rec := mustMsgpack(tb, fixtureRecord(i))
			if v2 {
				b = append(b, 0x92, 0x92)
				b = append(b, eventTimeExt(ts[i], 250e6)...)
				b = append(b, 0x80) // metadata {}
			} else {
				b = append(b, 0x92)
				b = append(b, eventTimeExt(ts[i], 250e6)...)
			}
			b = append(b, rec...)
		}
		return b
	}
	// Fluentd out_http <format> msgpack: the records packed back to back;
	// the time only where <inject> puts it.
	fdMsgpack := func() []byte {
		var b []byte
		for i := range n {
			b = append(b, mustMsgpack(tb, withTime(i))...)
		}
		return b
	}
	var withTimes []map[string]any
	for i := range n {
		withTimes = append(withTimes, withTime(i))
	}
	mangled := "REST API URL"
	fx := []shipperFixture{
		{Name: "fluentbit_json", Shipper: "Fluent Bit out_http Format json", ContentType: "application/json", Query: "time_key=date", body: fbJSON(double)},
		{Name: "fluentbit_json_gzip", Shipper: "Fluent Bit out_http Format json, Compress gzip", ContentType: "application/json", ContentEncoding: "gzip", Query: "time_key=date", body: fbJSON(double), ThroughAPI: 415, ThroughAPIWhy: mangled},
		{Name: "fluentbit_json_zstd", Shipper: "Fluent Bit out_http Format json, Compress zstd", ContentType: "application/json", ContentEncoding: "zstd", Query: "time_key=date", body: fbJSON(double), ThroughAPI: 415, ThroughAPIWhy: mangled},
		{Name: "fluentbit_json_snappy", Shipper: "Fluent Bit out_http Format json, Compress snappy", ContentType: "application/json", ContentEncoding: "snappy", Query: "time_key=date", body: fbJSON(double), ThroughAPI: 415, ThroughAPIWhy: mangled},
		{Name: "fluentbit_json_iso8601", Shipper: "Fluent Bit out_http Format json, json_date_format iso8601", ContentType: "application/json", Query: "time_key=date", body: fbJSON(iso)},
		{Name: "fluentbit_json_java_sql", Shipper: "Fluent Bit out_http Format json, json_date_format java_sql_timestamp", ContentType: "application/json", Query: "time_key=date", body: fbJSON(javaSQL)},
		{Name: "fluentbit_json_epoch_ms", Shipper: "Fluent Bit out_http Format json, json_date_format epoch_ms", ContentType: "application/json", Query: "time_key=date", body: fbJSON(epochMS)},
		{Name: "fluentbit_json_stream", Shipper: "Fluent Bit out_http Format json_stream", ContentType: "application/json", Query: "time_key=date", body: lines("", withDate)},
		{Name: "fluentbit_json_stream_gzip", Shipper: "Fluent Bit out_http Format json_stream, Compress gzip", ContentType: "application/json", ContentEncoding: "gzip", Query: "time_key=date", body: lines("", withDate), ThroughAPI: 415, ThroughAPIWhy: mangled},
		{Name: "fluentbit_json_lines", Shipper: "Fluent Bit out_http Format json_lines", ContentType: "application/x-ndjson", Query: "time_key=date", body: lines("\n", withDate)},
		{Name: "fluentbit_json_lines_gzip", Shipper: "Fluent Bit out_http Format json_lines, Compress gzip", ContentType: "application/x-ndjson", ContentEncoding: "gzip", Query: "time_key=date", body: lines("\n", withDate)},
		{Name: "fluentbit_json_lines_zstd", Shipper: "Fluent Bit out_http Format json_lines, Compress zstd", ContentType: "application/x-ndjson", ContentEncoding: "zstd", Query: "time_key=date", body: lines("\n", withDate)},
		{Name: "fluentbit_json_lines_snappy", Shipper: "Fluent Bit out_http Format json_lines, Compress snappy", ContentType: "application/x-ndjson", ContentEncoding: "snappy", Query: "time_key=date", body: lines("\n", withDate)},
		{Name: "fluentbit_msgpack", Shipper: "Fluent Bit out_http Format msgpack (v2.1+ events)", ContentType: "application/msgpack", body: fbMsgpack(true)},
		{Name: "fluentbit_msgpack_v1", Shipper: "Fluent Bit out_http Format msgpack ([time, record] events)", ContentType: "application/msgpack", body: fbMsgpack(false)},
		{Name: "fluentbit_msgpack_gzip", Shipper: "Fluent Bit out_http Format msgpack, Compress gzip", ContentType: "application/msgpack", ContentEncoding: "gzip", body: fbMsgpack(true)},
		{Name: "fluentbit_msgpack_zstd", Shipper: "Fluent Bit out_http Format msgpack, Compress zstd", ContentType: "application/msgpack", ContentEncoding: "zstd", body: fbMsgpack(true)},
		{Name: "fluentbit_msgpack_snappy", Shipper: "Fluent Bit out_http Format msgpack, Compress snappy", ContentType: "application/msgpack", ContentEncoding: "snappy", body: fbMsgpack(true)},
		{Name: "fluentd_ndjson", Shipper: "Fluentd out_http <format> json (ndjson, the default)", ContentType: "application/x-ndjson", body: lines("\n", withTime)},
		{Name: "fluentd_msgpack", Shipper: "Fluentd out_http <format> msgpack", ContentType: "application/x-msgpack", body: fdMsgpack()},
		{Name: "fluentd_ndjson_gzip", Shipper: "Fluentd out_http <format> json, compress gzip", ContentType: "application/x-ndjson", ContentEncoding: "gzip", body: lines("\n", withTime)},
		{Name: "fluentd_json_array", Shipper: "Fluentd out_http <format> json, json_array true", ContentType: "application/json", body: mustJSON(tb, withTimes)},
		{Name: "fluentd_json_array_gzip", Shipper: "Fluentd out_http <format> json, json_array true, compress gzip", ContentType: "application/json", ContentEncoding: "gzip", body: mustJSON(tb, withTimes), ThroughAPI: 415, ThroughAPIWhy: mangled},
		{Name: "fluentd_msgpack_gzip", Shipper: "Fluentd out_http <format> msgpack, compress gzip", ContentType: "application/x-msgpack", ContentEncoding: "gzip", body: fdMsgpack()},
		{Name: "vector_ndjson", Shipper: "Vector http sink, codec json, framing newline_delimited", ContentType: "application/x-ndjson", Query: "time_key=timestamp", body: lines("\n", withTimestamp)},
		{Name: "vector_ndjson_gzip", Shipper: "Vector http sink, codec json, framing newline_delimited, compression gzip", ContentType: "application/x-ndjson", ContentEncoding: "gzip", Query: "time_key=timestamp", body: lines("\n", withTimestamp)},
		{Name: "vector_ndjson_zstd", Shipper: "Vector http sink, codec json, framing newline_delimited, compression zstd", ContentType: "application/x-ndjson", ContentEncoding: "zstd", Query: "time_key=timestamp", body: lines("\n", withTimestamp)},
		{Name: "vector_ndjson_zlib", Shipper: "Vector http sink, codec json, framing newline_delimited, compression zlib", ContentType: "application/x-ndjson", ContentEncoding: "deflate", Query: "time_key=timestamp", body: lines("\n", withTimestamp)},
		{Name: "vector_json", Shipper: "Vector http sink, codec json (array)", ContentType: "application/json", Query: "time_key=timestamp", body: []byte("[" + strings.TrimSuffix(string(lines(",", withTimestamp)), ",") + "]")},
		{Name: "vector_json_gzip", Shipper: "Vector http sink, codec json (array), compression gzip", ContentType: "application/json", ContentEncoding: "gzip", Query: "time_key=timestamp", body: []byte("[" + strings.TrimSuffix(string(lines(",", withTimestamp)), ",") + "]"), ThroughAPI: 415, ThroughAPIWhy: mangled},
		{Name: "vector_json_zstd", Shipper: "Vector http sink, codec json (array), compression zstd", ContentType: "application/json", ContentEncoding: "zstd", Query: "time_key=timestamp", body: []byte("[" + strings.TrimSuffix(string(lines(",", withTimestamp)), ",") + "]"), ThroughAPI: 415, ThroughAPIWhy: mangled},
		{Name: "vector_json_zlib", Shipper: "Vector http sink, codec json (array), compression zlib", ContentType: "application/json", ContentEncoding: "deflate", Query: "time_key=timestamp", body: []byte("[" + strings.TrimSuffix(string(lines(",", withTimestamp)), ",") + "]"), ThroughAPI: 415, ThroughAPIWhy: mangled},
		{Name: "curl_json", Shipper: "curl -H 'Content-Type: application/json' -d @events.json", ContentType: "application/json", body: mustJSON(tb, withTimes)},
		{Name: "curl_form", Shipper: "curl -d 'json=...'", ContentType: "application/x-www-form-urlencoded", body: []byte("json=" + urlQueryEscape(string(mustJSON(tb, withTimes))))},
		{Name: "curl_json_gzip", Shipper: "gzip -c events.json | curl -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @-", ContentType: "application/json", ContentEncoding: "gzip", body: mustJSON(tb, withTimes), ThroughAPI: 415, ThroughAPIWhy: mangled},
		{Name: "curl_ndjson_gzip", Shipper: "curl -H 'Content-Type: application/x-ndjson' -H 'Content-Encoding: gzip' --data-binary @events.ndjson.gz", ContentType: "application/x-ndjson", ContentEncoding: "gzip", body: lines("\n", withTime)},
	}
	for i := range fx {
		fx[i].Events, fx[i].Times = n, ts
		if fx[i].ThroughAPI == 0 {
			fx[i].ThroughAPI = 200
		}
		fx[i].ThroughREST = 200 // every body arrives intact
		fx[i].body = compress(tb, fx[i].ContentEncoding, fx[i].body)
	}
	return fx
}

func time0(sec int64) string { return timeUTC(sec).Format("2006-01-02T15:04:05") }

// TestShipperFixtures keeps testdata/shippers equal to the wire formats
// above (-update rewrites it) and decodes every fixture: all events, each
// with its own time (fractions floored).
func TestShipperFixtures(t *testing.T) {
	dir := filepath.Join("testdata", "shippers")
	for _, fx := range shipperFixtures(t) {
		t.Run(fx.Name, func(t *testing.T) {
			meta := append(mustJSONIndent(t, fx), '\n')
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, fx.Name+".json"), meta, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, fx.Name+".body"), fx.body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			gotMeta, err := os.ReadFile(filepath.Join(dir, fx.Name+".json"))
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			gotBody, err := os.ReadFile(filepath.Join(dir, fx.Name+".body"))
			if err != nil {
				t.Fatal(err)
			}
			// Compressors may differ across versions: compare the meta, and
			// decode the stored body (that is what the other tests send).
			if !bytes.Equal(gotMeta, meta) {
				t.Fatalf("testdata differs from the wire format (run with -update):\n%s\nwant\n%s", gotMeta, meta)
			}
			raw, n, err := DecodeInHTTP(InHTTPRequest{ContentType: fx.ContentType, ContentEncoding: fx.ContentEncoding, RawQuery: fx.Query, Body: gotBody, Now: 1}, DefaultLimits())
			if err != nil {
				t.Fatalf("DecodeInHTTP: %v", err)
			}
			if n != fx.Events {
				t.Fatalf("%d events, want %d", n, fx.Events)
			}
			testcodec.CheckStream(t, raw, n)
			dec := msgpack.NewDecoder(bytes.NewReader(raw))
			for i := range n {
				var m map[string]any
				if err := dec.Decode(&m); err != nil {
					t.Fatal(err)
				}
				if got, _ := Seconds(m["time"]); got != fx.Times[i] {
					t.Errorf("event %d: time %v, want %d", i, m["time"], fx.Times[i])
				}
				for _, k := range []string{"date", "timestamp"} {
					if _, ok := m[k]; ok && strings.Contains(fx.Query, "time_key="+k) {
						t.Errorf("event %d still has the time_key %q", i, k)
					}
				}
			}
		})
	}
}

func mustJSONIndent(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func timeUTC(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// FuzzShipperBodies fuzzes every shipper decoding path (JSON streams,
// msgpack events, time_key, snappy/zstd/deflate/gzip) from the fixtures:
// an accepted request is a valid stream of maps with integer times.
func FuzzShipperBodies(f *testing.F) {
	for _, fx := range shipperFixtures(f) {
		f.Add(fx.ContentType, fx.ContentEncoding, fx.Query, fx.body)
	}
	f.Fuzz(func(t *testing.T, ct, enc, query string, body []byte) {
		raw, n, err := DecodeInHTTP(InHTTPRequest{ContentType: ct, ContentEncoding: enc, RawQuery: query, Body: body, Now: 1700000000}, fuzzLimits())
		if err != nil {
			if KindOf(err) == 0 {
				t.Fatalf("error without a Kind: %v", err)
			}
			return
		}
		testcodec.CheckStream(t, raw, n)
	})
}

// FuzzUnsnappy: any input either fails with a Kind or stays within the
// limits.
func FuzzUnsnappy(f *testing.F) {
	f.Add(snappy.Encode(nil, []byte(`{"a":1}`)))
	f.Add(compress(f, "snappy-framed", bytes.Repeat([]byte("x"), 1000)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}) // a block declaring 4 GiB
	f.Fuzz(func(t *testing.T, body []byte) {
		lim := fuzzLimits()
		out, err := Unsnappy(body, lim, nil)
		if err != nil {
			if KindOf(err) == 0 {
				t.Fatalf("error without a Kind: %v", err)
			}
			return
		}
		if len(out) > lim.MaxDecompressedBytes {
			t.Fatalf("%d bytes out, limit %d", len(out), lim.MaxDecompressedBytes)
		}
	})
}
