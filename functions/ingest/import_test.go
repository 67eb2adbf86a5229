package ingest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

func TestImportAccepted(t *testing.T) {
	recs := []map[string]any{
		{"time": int64(1700000000), "host": "10.0.0.1", "size": int64(100)},
		{"time": int64(1700000001), "host": "10.0.0.2", "nested": map[string]any{"a": []any{int64(1), "x"}}},
	}
	body := gzMsgpack(t, recs...)
	sum := md5.Sum(body)
	tests := []struct {
		name    string
		path    string
		base64  bool
		wantUID string // "" = derived
	}{
		{"import_with_id", "/v3/table/import_with_id/testdb/www_access/abc123DEF_-x/msgpack.gz", false, "abc123DEF_-x"},
		{"import_with_id base64 body", "/v3/table/import_with_id/testdb/www_access/u1/msgpack.gz", true, "u1"},
		{"import without id", "/v3/table/import/testdb/www_access/msgpack.gz", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			b := string(body)
			if tc.base64 {
				b = base64.StdEncoding.EncodeToString(body)
			}
			req := apiReq(http.MethodPut, tc.path, keyWriter, b, map[string]string{"content-type": "application/octet-stream"})
			req.IsBase64Encoded = tc.base64
			resp := env.call(t, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d body %s", resp.StatusCode, resp.Body)
			}
			if h := resp.Headers["X-Spillway-Accept-Encoding"]; h != "zstd" {
				t.Fatalf("X-Spillway-Accept-Encoding = %q, want zstd (the forwarder sends msgpack.zst only to endpoints that say so)", h)
			}
			var got importResponse
			if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Database != "testdb" || got.Table != "www_access" || got.MD5Hex != hex.EncodeToString(sum[:]) || got.UniqueID != tc.wantUID {
				t.Fatalf("response %+v", got)
			}
			d := decodeEntries(t, env.kin.entries())
			if len(d.envs) != 1 || len(d.events) != 2 {
				t.Fatalf("got %d records, %d events", len(d.envs), len(d.events))
			}
			e := d.envs[0]
			wantUID := tc.wantUID
			if wantUID == "" {
				wantUID = requestUniqueID(context.Background(), &request{ev: &req}, "testdb", "www_access")
			}
			if e.DB != "testdb" || e.Table != "www_access" || e.UniqueID != wantUID || e.Part != 0 || e.Parts != 1 || e.Producer != "127.0.0.1" || e.ReceivedMS != env.clock.Now().UnixMilli() {
				t.Fatalf("envelope %+v", e)
			}
			if !bytes.Equal(e.Payload, body) {
				t.Fatal("a body that fits one record should pass through unchanged")
			}
			if d.events[1]["host"] != "10.0.0.2" {
				t.Fatalf("event %v", d.events[1])
			}
			if !strings.Contains(env.metrics.String(), `"AcceptedEvents":2`) {
				t.Fatalf("metrics %s", env.metrics.String())
			}
			if !strings.Contains(env.logs.String(), `"unique_id":"`+wantUID+`"`) {
				t.Fatalf("log lacks unique_id: %s", env.logs.String())
			}
		})
	}
}

// randomRecords returns n records with incompressible payloads of size bytes.
func randomRecords(n, size int, seed uint64) []map[string]any {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]map[string]any, n)
	for i := range out {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out[i] = map[string]any{"time": int64(1700000000 + i), "i": int64(i), "blob": hex.EncodeToString(b)}
	}
	return out
}

func TestImportSplitsIntoParts(t *testing.T) {
	tests := []struct {
		name    string
		n, size int
	}{
		{"many small events", 3000, 1000},        // ~6 MB of hex, ~3 MB gzipped
		{"few large events", 12, 400_000},        // 800 KB each in hex
		{"one event near the limit", 1, 490_000}, // single 980 KB event
	}
	formats := []struct {
		format, enc string
		compress    func(testing.TB, []byte) []byte
	}{
		{tdimport.FormatGzip, envelope.EncodingGzip, gzBytes},
		{tdimport.FormatZstd, envelope.EncodingZstd, func(t testing.TB, p []byte) []byte { return zstdFrames(t, p, 64<<10) }},
	}
	for _, tc := range tests {
		for _, f := range formats {
			t.Run(tc.name+"/"+f.format, func(t *testing.T) {
				env := newEnv(t, nil)
				recs := randomRecords(tc.n, tc.size, uint64(tc.n))
				raw := msgpackStream(t, recs...)
				body := f.compress(t, raw)
				resp := env.call(t, apiReq(http.MethodPut, "/v3/table/import_with_id/testdb/www_access/split1/"+f.format, keyWriter, string(body), nil))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d %s", resp.StatusCode, resp.Body)
				}
				d := decodeEntries(t, env.kin.entries())
				if len(d.events) != tc.n {
					t.Fatalf("got %d events, want %d", len(d.events), tc.n)
				}
				if len(body) > envelope.MaxRecordBytes && len(d.envs) < 2 {
					t.Fatalf("a %d-byte body must be split", len(body))
				}
				// One part is the body passed through; parts are splitEncoding.
				wantEnc := splitEncoding
				if len(d.envs) == 1 && bytes.Equal(d.envs[0].Payload, body) {
					wantEnc = f.enc
				}
				for i, e := range d.envs {
					if e.Part != i || e.Parts != len(d.envs) || e.UniqueID != "split1" || e.Encoding != wantEnc {
						t.Fatalf("part %d: %+v, want encoding %q", i, e, wantEnc)
					}
				}
				for i, ev := range d.events {
					if ev["i"] != int64(i) && ev["i"] != int8(i) && fmt.Sprint(ev["i"]) != fmt.Sprint(i) {
						t.Fatalf("event %d out of order: %v", i, ev["i"])
					}
				}
			})
		}
	}
}

func TestImportRejected(t *testing.T) {
	valid := map[string]any{"time": int64(1700000000), "k": "v"}
	manyKeys := map[string]any{"time": int64(1)}
	for i := 0; i < 512; i++ {
		manyKeys[fmt.Sprintf("k%03d", i)] = i
	}
	deep := map[string]any{"leaf": 1}
	for i := 0; i < 40; i++ {
		deep = map[string]any{"d": deep}
	}
	deep["time"] = int64(1)
	path := "/v3/table/import_with_id/testdb/www_access/uid1/msgpack.gz"
	zstdPath := "/v3/table/import_with_id/testdb/www_access/uid1/msgpack.zst"
	tests := []struct {
		name     string
		mod      func(*Config)
		method   string
		path     string
		key      string
		body     func(t testing.TB) string
		base64   bool
		status   int
		reason   string
		contains string
	}{
		{name: "not gzip", body: func(testing.TB) string { return "hello" }, status: 400, reason: reasonBadGzip, contains: "not gzip"},
		{name: "truncated gzip", body: func(t testing.TB) string { b := gzMsgpack(t, valid); return string(b[:len(b)-6]) }, status: 400, reason: reasonBadGzip},
		{name: "not a map", body: func(t testing.TB) string { return string(gzBytes(t, []byte{0x01})) }, status: 400, reason: reasonNotMap},
		{name: "truncated map", body: func(t testing.TB) string { return string(gzBytes(t, []byte{0x82, 0xa4, 't', 'i', 'm', 'e', 0x01})) }, status: 400, reason: reasonBadMsgpack},
		{name: "non-string key", body: func(t testing.TB) string { return string(gzBytes(t, []byte{0x81, 0x01, 0x01})) }, status: 400, reason: reasonBadMsgpack},
		{name: "reserved byte", body: func(t testing.TB) string {
			return string(gzBytes(t, []byte{0x82, 0xa4, 't', 'i', 'm', 'e', 0x01, 0xa1, 'a', 0xc1}))
		}, status: 400, reason: reasonBadMsgpack},
		{name: "second event invalid", body: func(t testing.TB) string { return string(gzBytes(t, append(msgpackStream(t, valid), 0x01))) }, status: 400, reason: reasonNotMap, contains: "event 1"},
		{name: "time missing", body: func(t testing.TB) string { return string(gzMsgpack(t, map[string]any{"a": 1})) }, status: 422, reason: reasonTimeMissing},
		{name: "time string", body: func(t testing.TB) string { return string(gzMsgpack(t, map[string]any{"time": "now"})) }, status: 422, reason: reasonTimeInvalid},
		{name: "time float", body: func(t testing.TB) string { return string(gzMsgpack(t, map[string]any{"time": 1.5})) }, status: 422, reason: reasonTimeInvalid},
		{name: "too many keys", body: func(t testing.TB) string { return string(gzMsgpack(t, manyKeys)) }, status: 422, reason: reasonTooManyKeys},
		{name: "too deep", body: func(t testing.TB) string { return string(gzMsgpack(t, deep)) }, status: 422, reason: reasonTooDeep},
		{name: "record too large", mod: func(c *Config) { c.Limits.MaxRecordBytes = 100 }, body: func(t testing.TB) string {
			return string(gzMsgpack(t, map[string]any{"time": int64(1), "x": strings.Repeat("a", 200)}))
		}, status: 413, reason: reasonRecordTooLarge},
		{name: "body too large", mod: func(c *Config) { c.Limits.MaxBodyBytes = 10 }, body: func(t testing.TB) string { return string(gzMsgpack(t, valid)) }, status: 413, reason: reasonBodyTooLarge},
		{name: "body too large base64", mod: func(c *Config) { c.Limits.MaxBodyBytes = 10 }, base64: true, body: func(t testing.TB) string {
			return base64.StdEncoding.EncodeToString(gzMsgpack(t, valid))
		}, status: 413, reason: reasonBodyTooLarge},
		{name: "decompressed too large", mod: func(c *Config) { c.Limits.MaxDecompressedBytes = 50; c.Limits.RatioFloorBytes = 1000 }, body: func(t testing.TB) string {
			return string(gzMsgpack(t, map[string]any{"time": int64(1), "x": strings.Repeat("a", 100)}))
		}, status: 413, reason: reasonDecompTooLarge},
		{name: "gzip bomb ratio", mod: func(c *Config) { c.Limits.MaxCompressionRatio = 10; c.Limits.RatioFloorBytes = 1000 }, body: func(t testing.TB) string {
			return string(gzMsgpack(t, map[string]any{"time": int64(1), "x": strings.Repeat("a", 100_000)}))
		}, status: 413, reason: reasonRatio},
		{name: "too many events", mod: func(c *Config) { c.Limits.MaxEvents = 2 }, body: func(t testing.TB) string { return string(gzMsgpack(t, valid, valid, valid)) }, status: 413, reason: reasonTooManyEvents},
		{name: "bad base64", base64: true, body: func(testing.TB) string { return "!!!" }, status: 400, reason: reasonBadBase64},
		{name: "invalid database name", path: "/v3/table/import/Test-DB/www_access/msgpack.gz", status: 400, reason: reasonBadName, contains: "database name"},
		{name: "short table name", path: "/v3/table/import/testdb/ab/msgpack.gz", status: 400, reason: reasonBadName, contains: "table name"},
		{name: "bad unique_id", path: "/v3/table/import_with_id/testdb/www_access/a.b/msgpack.gz", status: 400, reason: reasonBadUniqueID},
		{name: "unsupported format", path: "/v3/table/import_with_id/testdb/www_access/u/json.gz", status: 415, reason: reasonFormat, contains: "use msgpack.gz or msgpack.zst"},
		{name: "unsupported format without id", path: "/v3/table/import/testdb/www_access/msgpack.zstd", status: 415, reason: reasonFormat, contains: "msgpack.zst"},
		{name: "not zstd", path: zstdPath, body: func(testing.TB) string { return "hello" }, status: 400, reason: reasonBadGzip, contains: "zstd"},
		{name: "gzip sent as zstd", path: zstdPath, status: 400, reason: reasonBadGzip, contains: "zstd"},
		{name: "empty zstd", path: zstdPath, body: func(testing.TB) string { return "" }, status: 400, reason: reasonBadGzip, contains: "zstd"},
		{name: "truncated zstd", path: zstdPath, body: func(t testing.TB) string { b := zstdFrames(t, msgpackStream(t, valid), 0); return string(b[:len(b)-3]) }, status: 400, reason: reasonBadGzip, contains: "zstd"},
		{name: "zstd second frame truncated", path: zstdPath, body: func(t testing.TB) string {
			b := zstdFrames(t, msgpackStream(t, valid, valid, valid), 20)
			return string(b[:len(b)-2])
		}, status: 400, reason: reasonBadGzip, contains: "zstd"},
		{name: "zstd window over 8 MiB", path: zstdPath, body: func(testing.TB) string { return string(zstdHugeWindow) }, status: 400, reason: reasonBadGzip, contains: "window"},
		{name: "zstd not a map", path: zstdPath, body: func(t testing.TB) string { return string(zstdFrames(t, []byte{0x01}, 0)) }, status: 400, reason: reasonNotMap},
		{name: "zstd time missing", path: zstdPath, body: func(t testing.TB) string { return string(zstdFrames(t, msgpackStream(t, map[string]any{"a": 1}), 0)) }, status: 422, reason: reasonTimeMissing},
		{name: "zstd body too large", path: zstdPath, mod: func(c *Config) { c.Limits.MaxBodyBytes = 10 }, body: func(t testing.TB) string { return string(zstdFrames(t, msgpackStream(t, valid), 0)) }, status: 413, reason: reasonBodyTooLarge},
		{name: "zstd decompressed too large", path: zstdPath, mod: func(c *Config) { c.Limits.MaxDecompressedBytes = 50; c.Limits.RatioFloorBytes = 1000 }, body: func(t testing.TB) string {
			return string(zstdFrames(t, msgpackStream(t, map[string]any{"time": int64(1), "x": strings.Repeat("a", 100)}), 0))
		}, status: 413, reason: reasonDecompTooLarge},
		{name: "zstd bomb ratio", path: zstdPath, mod: func(c *Config) { c.Limits.MaxCompressionRatio = 10; c.Limits.RatioFloorBytes = 1000 }, body: func(t testing.TB) string {
			return string(zstdFrames(t, msgpackStream(t, map[string]any{"time": int64(1), "x": strings.Repeat("a", 100_000)}), 0))
		}, status: 413, reason: reasonRatio, contains: "zstd body expands"},
		{name: "zstd bomb 64 MiB, default limits", path: zstdPath, body: func(t testing.TB) string { return string(zstdBomb(t, 64<<20)) }, status: 413, reason: reasonRatio},
		{name: "zstd bomb in a later frame", path: zstdPath, body: func(t testing.TB) string {
			return string(append(zstdFrames(t, msgpackStream(t, valid), 0), zstdBomb(t, 64<<20)...))
		}, status: 413, reason: reasonRatio},
		{name: "unknown database", path: "/v3/table/import/nodb/www_access/msgpack.gz", key: keyAdmin, status: 404, reason: reasonUnknownDB, contains: "nodb"},
		{name: "unknown table", path: "/v3/table/import/testdb/nosuch/msgpack.gz", status: 404, reason: reasonUnknownTable},
		{name: "no authorization", key: "-", status: 401, reason: reasonUnauthorized},
		{name: "unknown key", key: "nope", status: 401, reason: reasonUnauthorized, contains: msgInvalidKey},
		{name: "revoked key answers as an unknown one", key: keyRevoked, status: 401, reason: reasonUnauthorized, contains: msgInvalidKey},
		{name: "read-only key", key: keyReader, status: 403, reason: reasonForbidden},
		{name: "key of another database", key: keyOther, status: 403, reason: reasonForbidden},
		{name: "wrong method", method: http.MethodGet, status: 405, reason: reasonMethod},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, tc.mod)
			method, p, key := http.MethodPut, path, keyWriter
			if tc.method != "" {
				method = tc.method
			}
			if tc.path != "" {
				p = tc.path
			}
			switch tc.key {
			case "":
			case "-":
				key = ""
			default:
				key = tc.key
			}
			body := string(gzMsgpack(t, valid))
			if tc.body != nil {
				body = tc.body(t)
			}
			req := apiReq(method, p, key, body, nil)
			req.IsBase64Encoded = tc.base64
			resp := env.call(t, req)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			e := errorJSON(t, resp.Body)
			if tc.contains != "" && !strings.Contains(e.Message, tc.contains) {
				t.Fatalf("message %q lacks %q", e.Message, tc.contains)
			}
			if !strings.Contains(env.metrics.String(), `"Reason":"`+tc.reason+`"`) {
				t.Fatalf("metrics lack reason %s: %s", tc.reason, env.metrics.String())
			}
			if n := len(env.kin.entries()); n != 0 || env.kin.calls != 0 {
				t.Fatalf("rejected request reached Kinesis (%d records)", n)
			}
		})
	}
}

func TestImportAutoCreate(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.AutoCreate = true })
	body := string(gzMsgpack(t, map[string]any{"time": int64(1), "k": "v"}))
	resp := env.call(t, apiReq(http.MethodPut, "/v3/table/import/newdb/newtable/msgpack.gz", keyAdmin, body, nil))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Body)
	}
	for _, tbl := range []string{layout.DatabaseItem, "newtable"} {
		if env.ddb.get("catalog", catalogKey("newdb", tbl)) == nil {
			t.Fatalf("catalog item newdb/%s not created", tbl)
		}
	}
	// An invalid body leaves no catalog trace either.
	resp = env.call(t, apiReq(http.MethodPut, "/v3/table/import/newdb/other_table/msgpack.gz", keyAdmin, "junk", nil))
	if resp.StatusCode != http.StatusBadRequest || env.ddb.get("catalog", catalogKey("newdb", "other_table")) != nil {
		t.Fatalf("status %d; invalid import must not create the table", resp.StatusCode)
	}
}

func TestStagePrefixAndIAMMode(t *testing.T) {
	env := newEnv(t, func(c *Config) {
		c.AuthMode = AuthIAM
		c.IAMScopes = map[string]IAMScope{AnyPrincipal: {Databases: []string{"testdb"}, Write: true}}
	})
	req := apiReq(http.MethodPut, "/prod/v3/table/import/testdb/www_access/msgpack.gz", "", string(gzMsgpack(t, map[string]any{"time": int64(5)})), nil)
	req.RequestContext.Stage = "prod"
	if resp := env.call(t, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Body)
	}
}

func TestPartsStayWithinWhatFanoutAccepts(t *testing.T) {
	// A body that compresses well can fit one Kinesis record yet hold more
	// than fanout decompresses per part: it is split by raw size instead
	// of passed through, so no acknowledged event is refused downstream.
	rec := msgpackStream(t, map[string]any{"time": int64(1700000000), "message": strings.Repeat("a", 230)})
	raw := bytes.Repeat(rec, (envelope.MaxPayloadRaw+envelope.MaxPayloadRaw/8)/len(rec))
	b, aerr := decodeMsgpackStream(raw, DefaultLimits())
	if aerr != nil {
		t.Fatal(aerr)
	}
	orig := zstdFrames(t, raw, 0)
	budget := 1 << 20
	if len(orig) > budget {
		t.Fatalf("test body compresses to %d bytes, want it to fit one record", len(orig))
	}
	parts, aerr := splitParts(b, orig, envelope.EncodingZstd, splitEncoding, budget)
	if aerr != nil {
		t.Fatal(aerr)
	}
	zd, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zd.Close()
	events := 0
	for i, p := range parts {
		plain, err := zd.DecodeAll(p.payload, nil)
		if err != nil || p.enc != envelope.EncodingZstd {
			t.Fatalf("part %d (%s): %v", i, p.enc, err)
		}
		if len(plain) > envelope.MaxPayloadRaw {
			t.Fatalf("part %d of %d holds %d bytes once decompressed, over %d", i, len(parts), len(plain), envelope.MaxPayloadRaw)
		}
		events += p.events
	}
	if len(parts) < 2 || events != b.events() {
		t.Fatalf("%d parts holding %d events, want >= 2 parts holding %d", len(parts), events, b.events())
	}
}
