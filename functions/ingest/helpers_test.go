package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/functions/ingest/apikeys"
	"github.com/spillwayhq/spillway/internal/syncbuf"
	"github.com/spillwayhq/spillway/internal/testcodec"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/kinesisput"
	"github.com/spillwayhq/spillway/shared/layout"
)

// Clear API keys seeded by newEnv.
const (
	keyWriter  = "writer-key"  // testdb: read and write (no flush, as keys stored before can_flush)
	keyReader  = "reader-key"  // testdb: read only
	keyAdmin   = "admin-key"   // *: read, write and flush
	keyRevoked = "revoked-key" // testdb, revoked
	keyOther   = "other-key"   // otherdb: read, write and flush
	keyFlusher = "flusher-key" // testdb: write and flush
)

// fakeClock advances only when something sleeps on it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

type testEnv struct {
	h       *Handler
	cfg     Config
	kin     *fakeKinesis
	ddb     *fakeDynamo
	lam     *fakeLambda
	clock   *fakeClock
	metrics *syncbuf.Buffer
	logs    *syncbuf.Buffer
}

func newEnv(t testing.TB, mod func(*Config)) *testEnv {
	t.Helper()
	cfg := DefaultConfig()
	cfg.StreamName = "spillway-test"
	cfg.CatalogTable = "catalog"
	cfg.APIKeysTable = "apikeys"
	cfg.FlushFunction = "spillway-flush"
	if mod != nil {
		mod(&cfg)
	}
	env := &testEnv{
		cfg: cfg, kin: &fakeKinesis{}, ddb: newFakeDynamo(), lam: &fakeLambda{},
		clock:   &fakeClock{now: time.Now().Truncate(time.Second)},
		metrics: &syncbuf.Buffer{}, logs: &syncbuf.Buffer{},
	}
	// seed stores can_flush only when set, as keys created before the
	// permission existed are stored.
	seed := func(clear, name string, dbs []string, w, r, f, revoked bool) {
		k := apikeys.Key{Hash: apikeys.Hash(clear), Name: name, Databases: dbs, CanWrite: w, CanRead: r, Revoked: revoked}
		it := item{
			"key_hash": &ddbtypes.AttributeValueMemberS{Value: k.Hash}, "name": &ddbtypes.AttributeValueMemberS{Value: name},
			"databases": &ddbtypes.AttributeValueMemberSS{Value: dbs}, "can_write": &ddbtypes.AttributeValueMemberBOOL{Value: w},
			"can_read": &ddbtypes.AttributeValueMemberBOOL{Value: r}, "revoked": &ddbtypes.AttributeValueMemberBOOL{Value: revoked},
			"created_at": &ddbtypes.AttributeValueMemberN{Value: "1700000000"},
		}
		if f {
			it["can_flush"] = &ddbtypes.AttributeValueMemberBOOL{Value: true}
		}
		env.ddb.put("apikeys", it)
	}
	seed(keyWriter, "writer", []string{"testdb"}, true, true, false, false)
	seed(keyReader, "reader", []string{"testdb"}, false, true, false, false)
	seed(keyAdmin, "admin", []string{"*"}, true, true, true, false)
	seed(keyRevoked, "revoked", []string{"testdb"}, true, true, true, true)
	seed(keyOther, "other", []string{"otherdb"}, true, true, true, false)
	seed(keyFlusher, "flusher", []string{"testdb"}, true, false, true, false)
	n := func(v int64) *ddbtypes.AttributeValueMemberN {
		return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	s := func(v string) *ddbtypes.AttributeValueMemberS { return &ddbtypes.AttributeValueMemberS{Value: v} }
	env.ddb.put("catalog", item{"db": s("testdb"), "table": s(layout.DatabaseItem), "created_at": n(1700000000), "updated_at": n(1700000000)})
	env.ddb.put("catalog", item{"db": s("testdb"), "table": s("www_access"), "created_at": n(1700000000), "updated_at": n(1700000500),
		"count": n(30), "bytes": n(3000), "min_time": n(1699990000), "max_time": n(1700000400), "last_import_at": n(1700000400),
		"schema": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"host": s("string"), "size": s("long")}}})
	// Counts written by commits since counter items: 30 + 10 + 2 = 42.
	for i, c := range []struct{ n, at int64 }{{10, 1700000450}, {2, 1700000420}} {
		h, r := layout.CounterKey("testdb", "www_access", 3*i)
		env.ddb.put("catalog", item{"db": s(h), "table": s(r), "count": n(c.n), "bytes": n(100 * c.n), "late_count": n(0), "future_count": n(0),
			"updated_at": n(c.at), "last_import_at": n(c.at)})
	}
	env.ddb.put("catalog", item{"db": s("otherdb"), "table": s(layout.DatabaseItem), "created_at": n(1700000000), "updated_at": n(1700000000)})
	h, err := New(cfg, Deps{
		Kinesis: env.kin, DynamoDB: env.ddb, Lambda: env.lam,
		Logger:  slog.New(slog.NewJSONHandler(env.logs, nil)),
		Metrics: env.metrics, Now: env.clock.Now,
		Put: kinesisput.Options{Sleep: env.clock.Sleep, Now: env.clock.Now, Jitter: func() float64 { return 0.5 }},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	env.h = h
	return env
}

// call runs one request through the handler.
func (e *testEnv) call(t testing.TB, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := e.h.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle returned error: %v", err)
	}
	return resp
}

func apiReq(method, path, key, body string, headers map[string]string) events.APIGatewayV2HTTPRequest {
	h := map[string]string{}
	if key != "" {
		h["authorization"] = "TD1 " + key
	}
	for k, v := range headers {
		h[k] = v
	}
	rawPath, query, _ := strings.Cut(path, "?")
	r := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: rawPath, RawQueryString: query, Headers: h, Body: body}
	r.RequestContext.HTTP.Method = method
	r.RequestContext.HTTP.Path = rawPath
	r.RequestContext.HTTP.SourceIP = "127.0.0.1"
	r.RequestContext.Stage = "$default"
	r.RequestContext.RequestID = "req-1"
	return r
}

// gzMsgpack builds a TD import body from records.
func gzMsgpack(t testing.TB, recs ...map[string]any) []byte {
	t.Helper()
	return gzBytes(t, msgpackStream(t, recs...))
}

func msgpackStream(t testing.TB, recs ...map[string]any) []byte {
	t.Helper()
	var raw bytes.Buffer
	enc := msgpack.NewEncoder(&raw)
	enc.SetSortMapKeys(true)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	return raw.Bytes()
}

func gzBytes(t testing.TB, p []byte) []byte {
	return testcodec.Gzip(t, p)
}

// zstdFrames returns p as concatenated zstd frames of at most frame
// uncompressed bytes each (cut at any byte, as frames may be), or as one
// frame when frame <= 0.
func zstdFrames(t testing.TB, p []byte, frame int) []byte {
	return testcodec.Zstd(t, p, frame)
}

// payloadOf decompresses an envelope's payload as its Encoding says, with
// decoders of its own (not the handler's), without limits.
func payloadOf(t testing.TB, e *envelope.Envelope) []byte {
	t.Helper()
	return testcodec.Decompress(t, e.Encoding, e.Payload)
}

// decoded is what reached Kinesis, decoded.
type decoded struct {
	envs   []*envelope.Envelope
	events []map[string]any
}

func decodeEntries(t testing.TB, entries []types.PutRecordsRequestEntry) decoded {
	t.Helper()
	var d decoded
	for _, e := range entries {
		if n := len(e.Data) + len(*e.PartitionKey); n > envelope.MaxRecordBytes {
			t.Fatalf("record of %d bytes exceeds 1 MiB", n)
		}
		env, err := envelope.Unmarshal(e.Data)
		if err != nil {
			t.Fatalf("envelope: %v", err)
		}
		d.envs = append(d.envs, env)
		raw := payloadOf(t, env)
		dec := msgpack.NewDecoder(bytes.NewReader(raw))
		n := 0
		for {
			var m map[string]any
			if err := dec.Decode(&m); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("payload msgpack: %v", err)
			}
			d.events = append(d.events, m)
			n++
		}
		if n != env.Events {
			t.Fatalf("envelope says %d events, payload has %d", env.Events, n)
		}
	}
	return d
}

func errorJSON(t testing.TB, body string) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.Severity != "error" || e.Error == "" || e.Message != e.Error {
		t.Fatalf("error body %q lacks TD's fields", body)
	}
	return e
}
