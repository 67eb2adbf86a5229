package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/klauspost/compress/gzip"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/functions/ingest"
	"github.com/spillwayhq/spillway/functions/ingest/apikeys"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/mototest"
	"github.com/spillwayhq/spillway/shared/envelope"
)

// startMoto starts moto_server on a free loopback port and returns real
// SDK clients pointed at it, with the catalog and apikeys tables and a
// one-shard stream created.
type motoEnv struct {
	url string
	ddb *dynamodb.Client
	kin *kinesis.Client
}

func startMoto(t testing.TB) *motoEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := mototest.Start(t)
	cfg, err := cloud.AWSConfig(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	e := &motoEnv{url: srv.URL(), ddb: dynamodb.NewFromConfig(cfg), kin: kinesis.NewFromConfig(cfg)}
	mototest.CreateTable(t, ctx, e.ddb, "catalog", "db", "table")
	mototest.CreateTable(t, ctx, e.ddb, "apikeys", "key_hash")
	if _, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("ingest-test"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	w := kinesis.NewStreamExistsWaiter(e.kin, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("ingest-test")}, 30*time.Second); err != nil {
		t.Fatalf("wait for stream: %v", err)
	}
	return e
}

// readStream returns every record in the one-shard stream.
func (e *motoEnv) readStream(t testing.TB) []types.Record {
	t.Helper()
	ctx := context.Background()
	shards, err := e.kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("ingest-test")})
	if err != nil {
		t.Fatal(err)
	}
	var out []types.Record
	for _, s := range shards.Shards {
		it, err := e.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("ingest-test"), ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			got, err := e.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, got.Records...)
			if len(got.Records) == 0 {
				break
			}
			iter = got.NextShardIterator
		}
	}
	return out
}

func TestAgainstMoto(t *testing.T) {
	m := startMoto(t)
	ctx := context.Background()
	store := &apikeys.Store{DB: m.ddb, Table: "apikeys"}
	key, k, err := store.Create(ctx, apikeys.NewSpec{Name: "ci", Databases: []string{"motodb"}, CanWrite: true, CanRead: true})
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	cfg := ingest.DefaultConfig()
	cfg.StreamName, cfg.CatalogTable, cfg.APIKeysTable, cfg.AutoCreate, cfg.CacheTTL = "ingest-test", "catalog", "apikeys", true, 0
	var metrics bytes.Buffer
	h, err := ingest.New(cfg, ingest.Deps{Kinesis: m.kin, DynamoDB: m.ddb, Metrics: &metrics})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, key, body string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		req := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: path, Headers: map[string]string{"authorization": "TD1 " + key}, Body: body}
		req.RequestContext.HTTP.Method = method
		req.RequestContext.HTTP.SourceIP = "127.0.0.1"
		resp, err := h.Handle(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var raw bytes.Buffer
	enc := msgpack.NewEncoder(&raw)
	for i := 0; i < 100; i++ {
		if err := enc.Encode(map[string]any{"time": 1700000000 + i, "i": i}); err != nil {
			t.Fatal(err)
		}
	}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	_, _ = zw.Write(raw.Bytes())
	_ = zw.Close()

	resp := do(http.MethodPut, "/v3/table/import_with_id/motodb/events/moto1/msgpack.gz", key, body.String())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("import: %d %s", resp.StatusCode, resp.Body)
	}
	recs := m.readStream(t)
	if len(recs) != 1 {
		t.Fatalf("%d records in the stream", len(recs))
	}
	env, err := envelope.Unmarshal(recs[0].Data)
	if err != nil || env.UniqueID != "moto1" || env.Events != 100 || *recs[0].PartitionKey != envelope.PartitionKey(env) {
		t.Fatalf("envelope %+v err %v", env, err)
	}
	if env.Encoding != envelope.EncodingGzip || !bytes.Equal(env.Payload, body.Bytes()) {
		t.Fatalf("envelope %q payload of %d bytes; want the client's gzip body passed through", env.Encoding, len(env.Payload))
	}
	if got := payloadOf(t, env); !bytes.Equal(got, raw.Bytes()) {
		t.Fatal("payload differs from the imported events")
	}
	// The same events as multi-frame zstd pass through as the client's zstd.
	zbody := zstdFrames(t, raw.Bytes(), 100)
	resp = do(http.MethodPut, "/v3/table/import_with_id/motodb/events/moto2/msgpack.zst", key, string(zbody))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("zstd import: %d %s", resp.StatusCode, resp.Body)
	}
	recs = m.readStream(t)
	for _, r := range recs {
		if e, err := envelope.Unmarshal(r.Data); err != nil || (e.UniqueID == "moto2" && (e.Encoding != envelope.EncodingZstd || !bytes.Equal(e.Payload, zbody))) {
			t.Fatalf("zstd import's envelope %+v (err %v); want the client's zstd body passed through", e, err)
		}
	}
	got2 := payloads(t, recs)
	if len(got2) != 2 || !bytes.Equal(got2["moto1"], raw.Bytes()) || !bytes.Equal(got2["moto2"], raw.Bytes()) {
		t.Fatalf("stream holds %d imports; the zstd import must store the gzip import's events", len(got2))
	}
	// Auto-create wrote the catalog; the listing reads it back.
	resp = do(http.MethodGet, "/v3/table/list/motodb", key, "")
	var list struct {
		Tables []struct{ Name string } `json:"tables"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &list); err != nil || resp.StatusCode != 200 || len(list.Tables) != 1 || list.Tables[0].Name != "events" {
		t.Fatalf("list: %d %s", resp.StatusCode, resp.Body)
	}
	// Scope and revocation against the real table.
	if resp := do(http.MethodGet, "/v3/table/list/otherdb", key, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("other db: %d", resp.StatusCode)
	}
	if _, err := store.Revoke(ctx, k.Hash[:12]); err != nil {
		t.Fatal(err)
	}
	if resp := do(http.MethodGet, "/v3/table/list/motodb", key, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked key: %d", resp.StatusCode)
	}
	keys, err := store.List(ctx)
	if err != nil || len(keys) != 1 || !keys[0].Revoked || keys[0].Hash != apikeys.Hash(key) {
		t.Fatalf("list keys %+v %v", keys, err)
	}
}
