package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/klauspost/compress/zstd"

	"github.com/spillwayhq/spillway/internal/testcodec"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdimport"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// fuzzLimits are small so the fuzzer reaches every limit.
func fuzzLimits() Limits {
	l := DefaultLimits()
	l.MaxDecompressedBytes = 1 << 20
	l.RatioFloorBytes = 64 << 10
	l.MaxRecordBytes = 64 << 10
	l.MaxKeys = 16
	l.MaxDepth = 8
	l.MaxEvents = 1000
	return l
}

func FuzzDecodeImport(f *testing.F) {
	f.Add(gzMsgpack(f, map[string]any{"time": int64(1), "k": "v"}))
	f.Add(gzBytes(f, []byte{0x81, 0xa4, 't', 'i', 'm', 'e', 0xd3, 0, 0, 0, 0, 0, 0, 0, 1}))
	lim := fuzzLimits()
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := DecodeImport(body, lim)
		var aerr *apiError
		if err != nil {
			if !errors.As(err, &aerr) || aerr.Status < 400 || aerr.Status > 499 || aerr.Message == "" {
				t.Fatalf("error is not a 4xx API error: %v", err)
			}
			return
		}
		raw, aerr := decompress(tdrecord.Gzip, body, lim, nil)
		if aerr != nil {
			t.Fatalf("accepted body does not gunzip: %v", aerr)
		}
		testcodec.CheckStream(t, raw, n)
	})
}

// FuzzDecodeImportZstd is FuzzDecodeImport for msgpack.zst bodies (seeds in
// testdata/fuzz/FuzzDecodeImportZstd: frames, skippable and empty frames, a
// 1 GiB window header, a bomb, bad checksums). Every failure must be a 4xx;
// what is accepted must decode, and must be what a second, independent
// decode (DecodeAll, whole-buffer) of the same body gives.
func FuzzDecodeImportZstd(f *testing.F) {
	f.Add(zstdFrames(f, msgpackStream(f, map[string]any{"time": int64(1), "k": "v"}), 0))
	f.Add(zstdFrames(f, msgpackStream(f, map[string]any{"time": int64(1)}, map[string]any{"time": int64(2), "a": []any{1, "x"}}), 9))
	lim := fuzzLimits()
	ref, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(lim.MaxDecompressedBytes)))
	if err != nil {
		f.Fatal(err)
	}
	defer ref.Close()
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := DecodeImportFormat(tdimport.FormatZstd, body, lim)
		var aerr *apiError
		if err != nil {
			if !errors.As(err, &aerr) || aerr.Status < 400 || aerr.Status > 499 || aerr.Message == "" {
				t.Fatalf("error is not a 4xx API error: %v", err)
			}
			return
		}
		raw, aerr := decompress(tdrecord.Zstd, body, lim, nil)
		if aerr != nil {
			t.Fatalf("accepted body does not decompress again: %v", aerr)
		}
		testcodec.CheckStream(t, raw, n)
		want, err := ref.DecodeAll(body, nil)
		if err != nil || !bytes.Equal(want, raw) {
			t.Fatalf("DecodeAll disagrees: %d bytes, %v; streamed %d bytes", len(want), err, len(raw))
		}
	})
}

var fuzzContentTypes = []string{"", "application/x-www-form-urlencoded", "application/json", "application/x-ndjson", "application/msgpack", "text/plain"}
var fuzzEncodings = []string{"", "gzip", "deflate"}

func FuzzInHTTP(f *testing.F) {
	f.Add(uint8(1), uint8(0), "", []byte(`json={"action":"login","user":2}`))
	f.Add(uint8(2), uint8(0), "time=1518756037.5", []byte(`[{"a":1,"time":3},{"b":[1,2,{"c":null}]}]`))
	f.Add(uint8(3), uint8(0), "", []byte("{\"a\":1}\n{\"b\":2}\n"))
	f.Add(uint8(4), uint8(0), "", []byte{0x91, 0x81, 0xa1, 'a', 0x01})
	f.Add(uint8(2), uint8(1), "", gzBytes(f, []byte(`{"z":1}`)))
	lim := fuzzLimits()
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, ct, ce uint8, query string, body []byte) {
		b, aerr := decodeInHTTP(fuzzContentTypes[int(ct)%len(fuzzContentTypes)], fuzzEncodings[int(ce)%len(fuzzEncodings)], query, body, now, lim)
		if aerr != nil {
			if aerr.Status < 400 || aerr.Status > 499 {
				t.Fatalf("status %d for bad input: %v", aerr.Status, aerr)
			}
			return
		}
		testcodec.CheckStream(t, b.raw, b.events())
	})
}

func FuzzNames(f *testing.F) {
	for _, s := range []string{"testdb", "td.testdb.www_access", "ab", "A_b", "a.b", strings.Repeat("a", 256), "abc\x00", "uid-123_X"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := names.Validate("database", s); err == nil {
			if len(s) < names.MinLen || len(s) > names.MaxLen || strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
				t.Fatalf("invalid name %q accepted", s)
			}
			db, table, err := names.ParseTag(names.Tag(s, s))
			if err != nil || db != s || table != s {
				t.Fatalf("tag round trip of %q: %q %q %v", s, db, table, err)
			}
		}
		if db, table, err := names.ParseTag(s); err == nil && names.Tag(db, table) != s {
			t.Fatalf("ParseTag(%q) does not round trip", s)
		}
		if validateUniqueID(s) == nil {
			if strings.ContainsAny(s, "/.%?#\x00 ") || len(s) == 0 || len(s) > maxUniqueID {
				t.Fatalf("unsafe unique_id %q accepted", s)
			}
			segs, err := splitPath("/v3/table/import_with_id/testdb/www_access/" + s + "/msgpack.gz")
			if err != nil || len(segs) != 7 || segs[5] != s {
				t.Fatalf("unique_id %q does not survive routing: %v %v", s, segs, err)
			}
		}
	})
}

// FuzzInvoke feeds arbitrary invocation payloads to Invoke, the entry of
// both API Gateway fronts (seeds in testdata/fuzz/FuzzInvoke: AWS's REST API
// proxy event, an HTTP API event, a REST event with a base64 json+gzip
// body): it never panics, refuses what is not a proxy event with an error,
// and answers every proxy event with a status API Gateway accepts, in the
// response shape of the event's front.
func FuzzInvoke(f *testing.F) {
	f.Add([]byte(`{"version":"2.0","rawPath":"/v3/database/list","requestContext":{"http":{"method":"GET"}}}`))
	f.Add([]byte(`{"httpMethod":"POST","path":"/td.testdb.www_access","queryStringParameters":{"time_key":"date"},"body":"W10=","isBase64Encoded":true}`))
	env := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := env.h.Invoke(context.Background(), payload)
		if err != nil {
			return
		}
		var resp map[string]json.RawMessage
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response is not a JSON object: %s", out)
		}
		var status int
		if err := json.Unmarshal(resp["statusCode"], &status); err != nil || status < 200 || status > 599 {
			t.Fatalf("status %s", resp["statusCode"])
		}
		var probe struct {
			Version string `json:"version"`
		}
		_ = json.Unmarshal(payload, &probe)
		if _, cookies := resp["cookies"]; cookies && probe.Version != "2.0" {
			t.Fatalf("a REST event answered in the 2.0 shape: %s", out)
		}
	})
}

// FuzzV2FromREST checks the payload 1.0 -> 2.0 mapping on arbitrary paths,
// query values and headers: the path Handle splits is the REST path's
// segments, the raw query string parses back to the REST parameters, and
// header names are found case-insensitively.
func FuzzV2FromREST(f *testing.F) {
	f.Add("/td.db.t", "time_key", "date", "Content-Encoding", "gzip")
	f.Add("/v3/table/import/db/t/msgpack.gz", "a b", "c&d=e", "X-Multi", "1,2")
	f.Add("/a%2Fb/ü", "", "", "", "")
	f.Fuzz(func(t *testing.T, path, qk, qv, hk, hv string) {
		ev := events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: path, Headers: map[string]string{hk: hv}}
		if qk != "" {
			ev.MultiValueQueryStringParameters = map[string][]string{qk: {qv, qv + "2"}}
		}
		v2 := v2FromREST(ev)
		segs, err := splitPath(v2.RawPath)
		if err != nil {
			t.Fatalf("RawPath %q of path %q does not split: %v", v2.RawPath, path, err)
		}
		if strings.Join(segs, "/") != strings.Trim(path, "/") {
			t.Fatalf("path %q became segments %q (raw path %q)", path, segs, v2.RawPath)
		}
		q, err := url.ParseQuery(v2.RawQueryString)
		if err != nil {
			t.Fatalf("raw query %q: %v", v2.RawQueryString, err)
		}
		if qk != "" && strings.Join(q[qk], "\x00") != qv+"\x00"+qv+"2" {
			t.Fatalf("query %q=%q became %q -> %v", qk, qv, v2.RawQueryString, q[qk])
		}
		r := &request{ev: &v2}
		if hk != "" && r.header(strings.ToUpper(hk)) != hv {
			t.Fatalf("header %q=%q not found: %v", hk, hv, v2.Headers)
		}
	})
}
