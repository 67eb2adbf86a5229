package ingest

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	td "github.com/treasure-data/td-client-go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/shared/tdrecord"
)

func TestKinesisFailures(t *testing.T) {
	throttle := "ProvisionedThroughputExceededException"
	internal := "InternalFailure"
	tests := []struct {
		name       string
		fail       func(call int, in *kinesis.PutRecordsInput) (map[int]string, error)
		status     int
		retryAfter bool
		minCalls   int
	}{
		{name: "one throttled attempt then success", status: 200, minCalls: 2, fail: func(call int, _ *kinesis.PutRecordsInput) (map[int]string, error) {
			if call == 1 {
				return map[int]string{0: throttle}, nil
			}
			return nil, nil
		}},
		{name: "call error then success", status: 200, minCalls: 2, fail: func(call int, _ *kinesis.PutRecordsInput) (map[int]string, error) {
			if call == 1 {
				return nil, &types.ProvisionedThroughputExceededException{Message: strPtr("slow down")}
			}
			return nil, nil
		}},
		{name: "always throttled", status: 429, retryAfter: true, minCalls: 3, fail: func(int, *kinesis.PutRecordsInput) (map[int]string, error) {
			return map[int]string{0: throttle}, nil
		}},
		{name: "always internal failure", status: 503, retryAfter: true, minCalls: 3, fail: func(int, *kinesis.PutRecordsInput) (map[int]string, error) {
			return map[int]string{0: internal}, nil
		}},
		{name: "stream missing", status: 500, minCalls: 1, fail: func(int, *kinesis.PutRecordsInput) (map[int]string, error) {
			return nil, &types.ResourceNotFoundException{Message: strPtr("no stream")}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			env.kin.fail = tc.fail
			resp := env.call(t, apiReq(http.MethodPut, "/v3/table/import_with_id/testdb/www_access/k1/msgpack.gz", keyWriter, string(gzMsgpack(t, map[string]any{"time": int64(1)})), nil))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			if got := resp.Headers["Retry-After"]; (got == "1") != tc.retryAfter {
				t.Fatalf("Retry-After %q", got)
			}
			if env.kin.calls < tc.minCalls {
				t.Fatalf("%d PutRecords calls, want >= %d", env.kin.calls, tc.minCalls)
			}
			if tc.status != 200 {
				errorJSON(t, resp.Body)
			}
		})
	}
}

func TestKinesisDeadlineMargin(t *testing.T) {
	env := newEnv(t, nil)
	env.kin.fail = func(int, *kinesis.PutRecordsInput) (map[int]string, error) {
		return map[int]string{0: "InternalFailure"}, nil
	}
	// A deadline closer than the margin leaves no time to retry: one round, then 503.
	ctx, cancel := context.WithDeadline(context.Background(), env.clock.Now().Add(env.cfg.DeadlineMargin+10*time.Millisecond))
	defer cancel()
	resp, err := env.h.Handle(ctx, apiReq(http.MethodPut, "/v3/table/import_with_id/testdb/www_access/k1/msgpack.gz", keyWriter, string(gzMsgpack(t, map[string]any{"time": int64(1)})), nil))
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || env.kin.calls != 1 {
		t.Fatalf("status %d err %v calls %d", resp.StatusCode, err, env.kin.calls)
	}
}

func TestInHTTP(t *testing.T) {
	form := func(k, v string) string { return url.Values{k: {v}}.Encode() }
	mp := func(v any) string {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	deflate := func(s string) string {
		var b bytes.Buffer
		w := zlib.NewWriter(&b)
		_, _ = w.Write([]byte(s))
		_ = w.Close()
		return b.String()
	}
	formCT := map[string]string{"content-type": "application/x-www-form-urlencoded"}
	tests := []struct {
		name     string
		path     string
		body     string
		headers  map[string]string
		status   int
		reason   string
		wantN    int
		wantTime int64 // 0 = clock now
		check    func(t *testing.T, evs []map[string]any)
	}{
		{name: "json form (curl -d)", body: form("json", `{"action":"login","user":2}`), headers: formCT, status: 200, wantN: 1, check: func(t *testing.T, evs []map[string]any) {
			if evs[0]["action"] != "login" || evs[0]["user"] != int8(2) && evs[0]["user"] != int64(2) {
				t.Fatalf("event %v", evs[0])
			}
		}},
		{name: "json form without content-type", body: form("json", `[{"a":1},{"a":2}]`), status: 200, wantN: 2},
		{name: "ndjson form", body: form("ndjson", "{\"k1\":\"v1\"}\n{\"k2\":\"v2\"}\n"), headers: formCT, status: 200, wantN: 2},
		{name: "msgpack form", body: form("msgpack", mp(map[string]any{"foo": "bar"})), headers: formCT, status: 200, wantN: 1},
		{name: "json body", body: `{"foo":"bar","time":1518756037}`, headers: map[string]string{"Content-Type": "application/json"}, status: 200, wantN: 1, wantTime: 1518756037},
		{name: "json array body with float time", body: `[{"a":1,"time":1518756037.9},{"a":2}]`, headers: map[string]string{"content-type": "application/json; charset=utf-8"}, status: 200, wantN: 2, check: func(t *testing.T, evs []map[string]any) {
			if toInt(evs[0]["time"]) != 1518756037 {
				t.Fatalf("time %v", evs[0]["time"])
			}
		}},
		{name: "time query parameter wins", path: "/td.testdb.www_access?time=1518756037.3137116", body: `{"time":5}`, headers: map[string]string{"content-type": "application/json"}, status: 200, wantN: 1, wantTime: 1518756037},
		// One time rule (shared/tdrecord): a time parameter of 0 is absent, as in Fluentd
		// and the forwarder (this route used to store time 0); a string record time is
		// invalid, as in Fluentd and the forwarder (this route used to parse it).
		{name: "time parameter 0 is absent", path: "/td.testdb.www_access?time=0", body: `{"time":5}`, headers: map[string]string{"content-type": "application/json"}, status: 200, wantN: 1, wantTime: 5},
		{name: "string record time", body: `{"time":"1518756037"}`, headers: map[string]string{"content-type": "application/json"}, status: 400, reason: reasonTimeInvalid},
		{name: "ndjson body", body: "{\"a\":1}\n\n{\"a\":2}\n{\"a\":3}", headers: map[string]string{"content-type": "application/x-ndjson"}, status: 200, wantN: 3},
		{name: "msgpack body array", body: mp([]any{map[string]any{"a": 1}, map[string]any{"b": 2}}), headers: map[string]string{"content-type": "application/msgpack"}, status: 200, wantN: 2},
		{name: "gzip json body", body: string(gzBytes(t, []byte(`{"z":1}`))), headers: map[string]string{"content-type": "application/json", "content-encoding": "gzip"}, status: 200, wantN: 1},
		{name: "deflate json body", body: deflate(`{"z":1}`), headers: map[string]string{"content-type": "application/json", "content-encoding": "deflate"}, status: 200, wantN: 1},
		{name: "unsupported content type", body: "x", headers: map[string]string{"content-type": "text/plain"}, status: 415, reason: reasonFormat},
		{name: "unsupported encoding", body: "x", headers: map[string]string{"content-type": "application/json", "content-encoding": "br"}, status: 415, reason: reasonEncoding},
		{name: "no data parameter", body: "foo=bar", headers: formCT, status: 400, reason: reasonNoData},
		{name: "invalid json", body: form("json", `{"a":`), status: 400, reason: reasonBadJSON},
		{name: "trailing json", body: `{"a":1} 5`, headers: map[string]string{"content-type": "application/json"}, status: 400, reason: reasonBadJSON},
		{name: "json scalar", body: form("json", `42`), status: 400, reason: reasonNotMap},
		{name: "array with a non-object", body: form("json", `[{"a":1},2]`), status: 400, reason: reasonNotMap},
		{name: "invalid msgpack", body: "\xc1", headers: map[string]string{"content-type": "application/msgpack"}, status: 400, reason: reasonBadMsgpack},
		{name: "record time not a number", body: form("json", `{"time":"yesterday"}`), status: 400, reason: reasonTimeInvalid},
		{name: "time parameter not a number", path: "/td.testdb.www_access?time=abc", body: form("json", `{}`), status: 400, reason: reasonTimeInvalid},
		{name: "too deep", body: form("json", strings.Repeat(`{"a":`, 40)+"1"+strings.Repeat("}", 40)), status: 422, reason: reasonTooDeep},
		{name: "bad tag", path: "/app.log", body: form("json", `{}`), status: 400, reason: reasonBadName},
		{name: "bad gzip", body: "nope", headers: map[string]string{"content-type": "application/json", "content-encoding": "gzip"}, status: 415, reason: reasonEncoding}, // compressed under a text type: API Gateway would have mangled it
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			p := tc.path
			if p == "" {
				p = "/td.testdb.www_access"
			}
			resp := env.call(t, apiReq(http.MethodPost, p, keyWriter, tc.body, tc.headers))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			if tc.status != 200 {
				errorJSON(t, resp.Body)
				if !strings.Contains(env.metrics.String(), `"Reason":"`+tc.reason+`"`) {
					t.Fatalf("metrics lack %s: %s", tc.reason, env.metrics.String())
				}
				if len(env.kin.entries()) != 0 {
					t.Fatal("rejected request reached Kinesis")
				}
				return
			}
			d := decodeEntries(t, env.kin.entries())
			if len(d.events) != tc.wantN {
				t.Fatalf("%d events, want %d", len(d.events), tc.wantN)
			}
			want := tc.wantTime
			if want == 0 && tc.check == nil {
				want = env.clock.Now().Unix()
			}
			for _, ev := range d.events {
				if want != 0 && toInt(ev["time"]) != want {
					t.Fatalf("time %v want %d", ev["time"], want)
				}
			}
			if tc.check != nil {
				tc.check(t, d.events)
			}
		})
	}
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	}
	return -1
}

// tdJSONResponse replays a handler answer through td-client-go's own
// response validation, so the shapes are exactly what the client accepts.
type replayTransport struct {
	h *Handler
}

func (rt *replayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(req.Body); err != nil {
			return nil, err
		}
		body = buf.Bytes()
	}
	ev := apiReq(req.Method, req.URL.EscapedPath(), "", string(body), map[string]string{"authorization": req.Header.Get("Authorization")})
	ev.RawQueryString = req.URL.RawQuery
	resp, err := rt.h.Handle(req.Context(), ev)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	for k, v := range resp.Headers {
		hdr.Set(k, v)
	}
	return &http.Response{StatusCode: resp.StatusCode, Status: http.StatusText(resp.StatusCode), Header: hdr,
		Body: readCloser{strings.NewReader(resp.Body)}, Request: req}, nil
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func tdClient(t *testing.T, env *testEnv, key string) *td.TDClient {
	t.Helper()
	c, err := td.NewTDClient(td.Settings{ApiKey: key, Transport: &replayTransport{h: env.h}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogRoutesWithTDClient(t *testing.T) {
	env := newEnv(t, nil)
	c := tdClient(t, env, keyWriter)
	tables, err := c.ListTables("testdb")
	if err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	if len(*tables) != 1 {
		t.Fatalf("tables %+v", *tables)
	}
	tb := (*tables)[0]
	if tb.Name != "www_access" || tb.Count != 42 || tb.EstimatedStorageSize != 4200 || tb.Type != "log" ||
		tb.LastLogTimestamp.Unix() != 1700000400 || tb.LastImport.Unix() != 1700000450 || tb.CreatedAt.Unix() != 1700000000 || len(tb.Schema) != 2 {
		t.Fatalf("table %+v", tb)
	}
	show, err := c.ShowTable("testdb", "www_access")
	if err != nil || show.Count != 42 {
		t.Fatalf("ShowTable: %+v %v", show, err)
	}
	if _, err := c.ShowTable("testdb", "missing"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("ShowTable missing: %v", err)
	}
	if _, err := c.ListTables("nodb_here"); err == nil {
		t.Fatal("ListTables of a missing database succeeded")
	} else if apiErr := (*td.APIError)(nil); !errors.As(err, &apiErr) || apiErr.Type != td.ForbiddenError {
		t.Fatalf("writer key on nodb_here: want forbidden, got %v", err)
	}
	dbs, err := tdClient(t, env, keyAdmin).ListDatabases()
	if err != nil {
		t.Fatalf("ListDatabases: %v", err)
	}
	if len(*dbs) != 2 || (*dbs)[0].Name != "otherdb" || (*dbs)[1].Name != "testdb" || (*dbs)[1].Count != 42 {
		t.Fatalf("databases %+v", *dbs)
	}
	scoped, err := c.ListDatabases()
	if err != nil || len(*scoped) != 1 || (*scoped)[0].Name != "testdb" {
		t.Fatalf("scoped ListDatabases: %+v %v", scoped, err)
	}
	// Import through the client, with and without unique_id.
	body := gzMsgpack(t, map[string]any{"time": int64(1700000000), "k": "v"})
	if _, err := c.Import("testdb", "www_access", "msgpack.gz", td.InMemoryBlob(body), "clientuid1"); err != nil {
		t.Fatalf("Import: %v", err)
	}
	if _, err := c.Import("testdb", "www_access", "msgpack.gz", td.InMemoryBlob(body), ""); err != nil {
		t.Fatalf("Import without id: %v", err)
	}
	// Create routes.
	admin := tdClient(t, env, keyAdmin)
	if err := admin.CreateDatabase("newdb", nil); err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	if err := admin.CreateLogTable("newdb", "events"); err != nil {
		t.Fatalf("CreateLogTable: %v", err)
	}
	if err := admin.CreateLogTable("newdb", "events"); err == nil {
		t.Fatal("second CreateLogTable succeeded")
	} else if apiErr := (*td.APIError)(nil); !errors.As(err, &apiErr) || apiErr.Type != td.AlreadyExistsError {
		t.Fatalf("want AlreadyExists, got %v", err)
	}
	if len(decodeEntries(t, env.kin.entries()).events) != 2 {
		t.Fatal("imports did not reach Kinesis")
	}
}

func TestCatalogAuthAndErrors(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		key    string
		status int
	}{
		{"list tables read key", "GET", "/v3/table/list/testdb", keyReader, 200},
		{"list tables no key", "GET", "/v3/table/list/testdb", "", 401},
		{"list tables other scope", "GET", "/v3/table/list/testdb", keyOther, 403},
		{"list tables unknown db", "GET", "/v3/table/list/nodb", keyAdmin, 404},
		{"list tables bad name", "GET", "/v3/table/list/No", keyAdmin, 400},
		{"show table unknown", "GET", "/v3/table/show/testdb/nothere", keyReader, 404},
		{"database list", "GET", "/v3/database/list", keyReader, 200},
		{"create db with read key", "POST", "/v3/database/create/testdb2", keyReader, 403},
		{"create db exists", "POST", "/v3/database/create/testdb", keyWriter, 409},
		{"create table without db", "POST", "/v3/table/create/nodb/tbl/log", keyAdmin, 404},
		{"create table bad type", "POST", "/v3/table/create/testdb/tbl/item", keyAdmin, 400},
		{"unknown route", "GET", "/v3/nothing", keyAdmin, 404},
		{"root", "GET", "/", keyAdmin, 404},
		{"bad escape", "GET", "/v3/table/list/%zz", keyAdmin, 404},
		{"flush GET", "GET", "/v1/flush", keyAdmin, 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			resp := env.call(t, apiReq(tc.method, tc.path, tc.key, "", nil))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			if tc.status != 200 {
				errorJSON(t, resp.Body)
			}
		})
	}
	t.Run("SigV4 verified by API Gateway needs no key", func(t *testing.T) {
		env := newEnv(t, func(c *Config) {
			c.IAMScopes = map[string]IAMScope{"arn:aws:iam::123456789012:user/ops": {Databases: []string{"testdb"}, Read: true}}
		})
		req := apiReq("GET", "/v3/table/list/testdb", "", "", nil)
		req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{AccessKey: "AKIDEXAMPLE", UserARN: "arn:aws:iam::123456789012:user/ops"},
		}
		if resp := env.call(t, req); resp.StatusCode != 200 {
			t.Fatalf("status %d want 200: %s", resp.StatusCode, resp.Body)
		}
		req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{}}
		if resp := env.call(t, req); resp.StatusCode != 401 {
			t.Fatalf("empty IAM authorizer: status %d want 401", resp.StatusCode)
		}
	})
	t.Run("dynamodb down", func(t *testing.T) {
		env := newEnv(t, func(c *Config) { c.CacheTTL = 0 })
		env.ddb.err = errors.New("connection refused")
		resp := env.call(t, apiReq("GET", "/v3/table/list/testdb", keyAdmin, "", nil))
		if resp.StatusCode != 503 || resp.Headers["Retry-After"] == "" {
			t.Fatalf("status %d headers %v", resp.StatusCode, resp.Headers)
		}
	})
}

func TestFlush(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		key     string
		mod     func(*Config)
		status  int
		payload *FlushRequest
	}{
		{"one table", "?db=testdb&table=www_access", keyFlusher, nil, 202, &FlushRequest{Source: FlushSource, DB: "testdb", Table: "www_access", Force: true}},
		{"everything with admin key", "", keyAdmin, nil, 202, &FlushRequest{Source: FlushSource, Force: true}},
		{"everything with scoped key", "", keyFlusher, nil, 403, nil},
		{"write key without flush (stored before can_flush)", "?db=testdb", keyWriter, nil, 403, nil},
		{"flush key of another database", "?db=testdb", keyOther, nil, 403, nil},
		{"flush key on a database outside its scope", "?db=otherdb", keyFlusher, nil, 403, nil},
		{"read-only key", "?db=testdb", keyReader, nil, 403, nil},
		{"table without db", "?table=www_access", keyAdmin, nil, 400, nil},
		{"bad db name", "?db=X", keyAdmin, nil, 400, nil},
		{"not configured", "?db=testdb", keyFlusher, func(c *Config) { c.FlushFunction = "" }, 501, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, tc.mod)
			resp := env.call(t, apiReq(http.MethodPost, "/v1/flush"+tc.query, tc.key, "", nil))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			if tc.payload == nil {
				if len(env.lam.calls) != 0 {
					t.Fatal("flush invoked on a rejected request")
				}
				return
			}
			if len(env.lam.calls) != 1 {
				t.Fatalf("%d invocations", len(env.lam.calls))
			}
			in := env.lam.calls[0]
			var got FlushRequest
			if err := json.Unmarshal(in.Payload, &got); err != nil {
				t.Fatal(err)
			}
			if *in.FunctionName != "spillway-flush" || in.InvocationType != lambdatypes.InvocationTypeEvent || got != *tc.payload {
				t.Fatalf("invoke %s %s %+v", *in.FunctionName, in.InvocationType, got)
			}
		})
	}
	t.Run("lambda error", func(t *testing.T) {
		env := newEnv(t, nil)
		env.lam.err = errors.New("boom")
		if resp := env.call(t, apiReq(http.MethodPost, "/v1/flush?db=testdb", keyFlusher, "", nil)); resp.StatusCode != 503 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

func TestMetricsAreEMF(t *testing.T) {
	env := newEnv(t, nil)
	env.call(t, apiReq(http.MethodPut, "/v3/table/import/testdb/www_access/msgpack.gz", keyWriter, string(gzMsgpack(t, map[string]any{"time": int64(1)})), nil))
	env.call(t, apiReq(http.MethodPut, "/v3/table/import/testdb/www_access/msgpack.gz", "", "", nil))
	lines := strings.Split(strings.TrimSpace(env.metrics.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d metric lines", len(lines))
	}
	for _, l := range lines {
		var doc struct {
			AWS struct {
				Timestamp         int64
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
			Route string
		}
		if err := json.Unmarshal([]byte(l), &doc); err != nil {
			t.Fatal(err)
		}
		d := doc.AWS.CloudWatchMetrics[0]
		if doc.AWS.Timestamp == 0 || d.Namespace != MetricsNamespace || doc.Route != "import" || len(d.Metrics) == 0 {
			t.Fatalf("bad EMF line %s", l)
		}
		var raw map[string]any
		_ = json.Unmarshal([]byte(l), &raw)
		for _, m := range d.Metrics {
			if _, ok := raw[m.Name]; !ok {
				t.Fatalf("metric %s declared but missing in %s", m.Name, l)
			}
		}
		for _, dim := range d.Dimensions[0] {
			if _, ok := raw[dim]; !ok {
				t.Fatalf("dimension %s missing in %s", dim, l)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{AuthMode: "magic", Limits: Limits{Limits: tdrecord.Limits{MaxRecordBytes: 2 << 20}}, RetryAfter: time.Millisecond}
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"StreamName", "CatalogTable", "AuthMode", "Limits.MaxBodyBytes", "Limits.MaxRecordBytes", "PutTimeout", "RetryAfter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
	ok := DefaultConfig()
	ok.StreamName, ok.CatalogTable, ok.APIKeysTable = "s", "c", "k"
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	if _, err := New(ok, Deps{}); err == nil || !strings.Contains(err.Error(), "Kinesis") {
		t.Fatalf("New without deps: %v", err)
	}
}
