package ingest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/kinesisput"
)

// TestRequestsWithoutIDAreDistinct: a request without a client unique_id
// is its own identity (its API Gateway request id), never its content, so
// identical requests are distinct imports, as Fluentd and TD keep them.
func TestRequestsWithoutIDAreDistinct(t *testing.T) {
	gz := string(gzMsgpack(t, map[string]any{"time": int64(1700000000), "action": "login"}))
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		n      int
	}{
		{"five identical in_http posts in one second", http.MethodPost, "/td.testdb.www_access", `json={"action":"login"}`, 5},
		{"two identical imports from two hosts", http.MethodPut, "/v3/table/import/testdb/www_access/msgpack.gz", gz, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			for i := range tc.n {
				req := apiReq(tc.method, tc.path, keyWriter, tc.body, nil)
				req.RequestContext.RequestID = fmt.Sprintf("LV7fzho-PHcEJP%d=", i)
				req.RequestContext.HTTP.SourceIP = fmt.Sprintf("10.0.0.%d", i+1)
				if resp := env.call(t, req); resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: status %d %s", i, resp.StatusCode, resp.Body)
				}
			}
			d := decodeEntries(t, env.kin.entries())
			ids := map[string]bool{}
			for _, e := range d.envs {
				ids[envelope.PartID(e)] = true
				if validateUniqueID(e.UniqueID) != nil {
					t.Errorf("unique_id %q is not a valid TD unique_id", e.UniqueID)
				}
			}
			if len(d.envs) != tc.n || len(ids) != tc.n {
				t.Fatalf("%d requests became %d records with %d distinct part ids; want %d distinct", tc.n, len(d.envs), len(ids), tc.n)
			}
		})
	}
}

// TestRequestIDIsTheIdentity: the same request id (one request delivered
// twice to the function) keeps its id; different request ids do not share
// one, for the same content.
func TestRequestIDIsTheIdentity(t *testing.T) {
	env := newEnv(t, nil)
	for range 2 {
		req := apiReq(http.MethodPost, "/td.testdb.www_access", keyWriter, `json={"a":1}`, nil)
		req.RequestContext.RequestID = "same-request="
		if resp := env.call(t, req); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d %s", resp.StatusCode, resp.Body)
		}
	}
	d := decodeEntries(t, env.kin.entries())
	if len(d.envs) != 2 || d.envs[0].UniqueID != d.envs[1].UniqueID {
		t.Fatalf("one request id must give one unique_id")
	}
}

// partShape is what identifies a request's parts: their count and the
// events each holds, in order.
func partShape(t testing.TB, env *testEnv) string {
	t.Helper()
	d := decodeEntries(t, env.kin.entries())
	var b strings.Builder
	for _, e := range d.envs {
		fmt.Fprintf(&b, "%d/%d:%d ", e.Part, e.Parts, e.Events)
	}
	return b.String()
}

// budgetWith is the payload budget a request's own metadata leaves (what
// ingest used to split by): the test sizes a body between two producers'.
func budgetWith(t testing.TB, producer string) int {
	t.Helper()
	e := envelope.Envelope{DB: "testdb", Table: "www_access", UniqueID: "retry-1", Producer: producer, ReceivedMS: 1 << 41,
		Encoding: envelope.EncodingGzip, Part: 1 << 20, Parts: 1 << 20, Events: 1 << 30}
	data, err := envelope.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	return envelope.MaxRecordBytes - len(data) - 5 - kinesisput.MaxPartitionKey
}

// incompressibleStream returns a msgpack stream of random binary records
// whose gzip body is exactly size bytes (give or take a few).
func incompressibleStream(t testing.TB, size int) []byte {
	t.Helper()
	blob := make([]byte, size+size/8)
	_, _ = rand.Read(blob)
	n := size - 600
	for range 8 {
		var recs []map[string]any
		for i, left := 0, n; left > 0; i++ {
			k := min(left, 64<<10)
			recs = append(recs, map[string]any{"time": int64(1700000000 + i), "blob": blob[n-left : n-left+k]})
			left -= k
		}
		raw := msgpackStream(t, recs...)
		got := len(gzBytes(t, raw))
		if got >= size-4 && got <= size {
			return raw
		}
		n += size - 2 - got
	}
	t.Fatalf("could not size a body to %d gzip bytes", size)
	return nil
}

// TestPartsDoNotDependOnTheRequest: a retry with the same unique_id and the
// same records maps to the same parts whatever the producer address, the
// X-Spillway-Producer header or the client's compression.
func TestPartsDoNotDependOnTheRequest(t *testing.T) {
	ipv6 := "2001:0db8:85a3:0000:0000:8a2e:0370:7334"
	// A body that fits one record beside a short producer, not beside a
	// 39-character IPv6 address.
	near := incompressibleStream(t, budgetWith(t, "1.2.3.4")-8)
	// A body whose gzip does not fit one record and whose zstd does.
	over := incompressibleStream(t, budgetWith(t, "1.2.3.4")+20)
	// A big, compressible body whose gzip and zstd ratios differ.
	var recs []map[string]any
	for i := range 150000 {
		recs = append(recs, map[string]any{"time": int64(1700000000 + i%3600), "host": fmt.Sprintf("10.%d.%d.%d", i%7, i%251, i%13),
			"path": fmt.Sprintf("/api/v1/items/%d?page=%d", i*7919%100003, i%17), "status": int64(200 + i%5), "agent": "Mozilla/5.0 (X11; Linux x86_64)"})
	}
	big := msgpackStream(t, recs...)

	type send struct {
		name     string
		format   string
		sourceIP string
		producer string
	}
	tests := []struct {
		name  string
		raw   []byte
		sends []send
	}{
		{"producer address and header", near, []send{
			{"ipv4", "msgpack.gz", "1.2.3.4", ""},
			{"ipv6", "msgpack.gz", ipv6, ""},
			{"longest X-Spillway-Producer", "msgpack.gz", "1.2.3.4", strings.Repeat("p", 300)},
		}},
		{"gzip or zstd, one record or two", over, []send{
			{"gzip", "msgpack.gz", "1.2.3.4", ""},
			{"zstd", "msgpack.zst", "1.2.3.4", ""},
		}},
		{"gzip or zstd, many parts", big, []send{
			{"gzip", "msgpack.gz", "1.2.3.4", ""},
			{"zstd", "msgpack.zst", ipv6, ""},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var first string
			for i, s := range tc.sends {
				env := newEnv(t, nil)
				body := gzBytes(t, tc.raw)
				if s.format == "msgpack.zst" {
					body = zstdFrames(t, tc.raw, 0)
				}
				req := apiReq(http.MethodPut, "/v3/table/import_with_id/testdb/www_access/retry-1/"+s.format, keyWriter, string(body), nil)
				req.RequestContext.HTTP.SourceIP = s.sourceIP
				if s.producer != "" {
					req.Headers["x-spillway-producer"] = s.producer
				}
				if resp := env.call(t, req); resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d %s", s.name, resp.StatusCode, resp.Body)
				}
				got := partShape(t, env)
				if i == 0 {
					first = got
					continue
				}
				if got != first {
					t.Errorf("%s: parts %s, %s: parts %s; want the same parts", tc.sends[0].name, first, s.name, got)
				}
			}
		})
	}
}
