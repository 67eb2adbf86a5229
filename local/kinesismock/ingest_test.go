package kinesismock_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/functions/ingest"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/envelope"
)

// catalogTable creates a catalog table (keys as docs/ARCHITECTURE.md fixes
// them) in moto and returns the DynamoDB client and its name.
func catalogTable(tb testing.TB) (*dynamodb.Client, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := awsconf.Load(ctx, config.WithRegion("us-east-1"), config.WithBaseEndpoint(sharedMoto(tb).URL()),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		tb.Fatalf("aws config: %v", err)
	}
	db := dynamodb.NewFromConfig(cfg)
	name := streamName(tb) + "-catalog"
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("db"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("table"), KeyType: ddbtypes.KeyTypeRange},
		},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("db"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("table"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
	})
	if err != nil {
		tb.Fatalf("create catalog table: %v", err)
	}
	return db, name
}

// TestIngestHandlerRoundTrip sends one TD import request bigger than a
// Kinesis record through the real ingest handler (functions/ingest, IAM
// auth, auto-create against a moto catalog) writing to kinesis-mock, then
// reads every shard back and checks that the parts reassemble to exactly
// the events sent.
func TestIngestHandlerRoundTrip(t *testing.T) {
	kin := kinesisClient(t, sharedKinesisMock(t).URL())
	s := createStream(t, kin, 0)
	ddb, catalog := catalogTable(t)

	cfg := ingest.DefaultConfig()
	cfg.StreamName, cfg.CatalogTable, cfg.AuthMode, cfg.AutoCreate, cfg.CacheTTL = aws.ToString(s.StreamName), catalog, ingest.AuthIAM, true, 0
	cfg.IAMScopes = map[string]ingest.IAMScope{ingest.AnyPrincipal: {Databases: []string{"*"}, Write: true}}
	cfg.PutTimeout = 90 * time.Second
	var logs, metrics bytes.Buffer
	h, err := ingest.New(cfg, ingest.Deps{Kinesis: kin, DynamoDB: ddb, Metrics: &metrics, Logger: newJSONLogger(&logs)})
	if err != nil {
		t.Fatalf("ingest.New: %v", err)
	}

	// 12 events of 200 KiB of random bytes: 2.4 MiB that does not compress,
	// so ingest must split it into at least 3 records.
	var raw bytes.Buffer
	enc := msgpack.NewEncoder(&raw)
	const n = 12
	for i := 0; i < n; i++ {
		blob := make([]byte, 200<<10)
		if _, err := rand.Read(blob); err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(map[string]any{"time": int64(1_763_000_000 + i), "i": int64(i), "blob": blob}); err != nil {
			t.Fatal(err)
		}
	}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	_, _ = zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	req := events.APIGatewayV2HTTPRequest{
		Version:         "2.0",
		RawPath:         "/v3/table/import_with_id/fidelity_db/events/uid-kinesismock-1/msgpack.gz",
		Headers:         map[string]string{"content-type": "application/octet-stream"},
		Body:            body.String(),
		IsBase64Encoded: false,
	}
	req.RequestContext.HTTP.Method = http.MethodPut
	req.RequestContext.HTTP.SourceIP = "127.0.0.1"
	began := time.Now()
	resp, err := h.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	t.Logf("ingest answered %d in %v", resp.StatusCode, time.Since(began))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("import: %d %s\nlogs:\n%s", resp.StatusCode, resp.Body, logs.String())
	}

	var parts []*envelope.Envelope
	for shard, recs := range readAll(t, kin, aws.ToString(s.StreamARN)) {
		for _, r := range recs {
			env, err := envelope.Unmarshal(r.Data)
			if err != nil {
				t.Fatalf("shard %s: %v", shard, err)
			}
			if len(r.Data)+len(aws.ToString(r.PartitionKey)) > envelope.MaxRecordBytes {
				t.Errorf("part %d is %d bytes with its key, over 1 MiB", env.Part, len(r.Data)+len(aws.ToString(r.PartitionKey)))
			}
			parts = append(parts, env)
		}
	}
	if len(parts) < 3 {
		t.Fatalf("%d parts in the stream, want >= 3 for %d bytes of incompressible events", len(parts), raw.Len())
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Part < parts[j].Part })
	var got bytes.Buffer
	nEvents := 0
	for i, p := range parts {
		if p.Part != i || p.Parts != len(parts) || p.UniqueID != "uid-kinesismock-1" || p.DB != "fidelity_db" || p.Table != "events" {
			t.Fatalf("part %d: header %+v, want part %d of %d", i, *p, i, len(parts))
		}
		// Parts ingest cuts are compressed as it chooses (zstd today); the
		// envelope says which.
		var zr io.Reader
		switch p.Encoding {
		case envelope.EncodingGzip:
			gr, err := gzip.NewReader(bytes.NewReader(p.Payload))
			if err != nil {
				t.Fatalf("part %d gunzip: %v", i, err)
			}
			zr = gr
		case envelope.EncodingZstd:
			d, err := zstd.NewReader(bytes.NewReader(p.Payload), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(8<<20))
			if err != nil {
				t.Fatalf("part %d unzstd: %v", i, err)
			}
			defer d.Close()
			zr = d
		default:
			t.Fatalf("part %d: payload encoding %q", i, p.Encoding)
		}
		if _, err := io.Copy(&got, zr); err != nil {
			t.Fatalf("part %d (%s): %v", i, p.Encoding, err)
		}
		nEvents += p.Events
	}
	if nEvents != n {
		t.Errorf("envelopes count %d events, sent %d", nEvents, n)
	}
	if !bytes.Equal(got.Bytes(), raw.Bytes()) {
		t.Errorf("reassembled %d bytes of events differ from the %d sent", got.Len(), raw.Len())
	}
}
