package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spillwayhq/spillway/internal/testcodec"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/localtest"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// zstdFrames returns p as concatenated zstd frames of at most frame
// uncompressed bytes each (cut at any byte), as a zstd client may send.
func zstdFrames(t testing.TB, p []byte, frame int) []byte {
	return testcodec.Zstd(t, p, frame)
}

// TestPipelineEndToEnd sends the 10k Apache corpus through the API front and
// checks every sink through the AWS SDK (and the TD receiver's API): the
// catalog count, the sealed S3 objects, the TD receiver, and that the three
// hold the same records.
func TestPipelineEndToEnd(t *testing.T) {
	c := localtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const db, table, want = "www", "access", 10000

	t.Run("deployed configuration was read back", func(t *testing.T) {
		for _, fn := range cloud.Functions {
			f := c.Functions[fn]
			if f == nil || len(f.Env) == 0 || f.Timeout <= 0 {
				t.Fatalf("function %s: %+v", fn, f)
			}
		}
		if c.Functions["ingest"].Env["SPILLWAY_STREAM_NAME"] != c.Outputs.StreamName {
			t.Fatalf("ingest stream env %q, stream %q", c.Functions["ingest"].Env["SPILLWAY_STREAM_NAME"], c.Outputs.StreamName)
		}
		if len(c.Routes) == 0 || c.FlushSchedule == "" {
			t.Fatalf("routes %v schedule %q", c.Routes, c.FlushSchedule)
		}
		sec, err := secretsmanager.NewFromConfig(c.AWS).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.Outputs.TDAPIKeySecretARN)})
		if err != nil {
			t.Fatalf("read the TD API key secret: %v", err)
		}
		var keys map[string]string
		if err := json.Unmarshal([]byte(aws.ToString(sec.SecretString)), &keys); err != nil || keys[c.TDURL] != c.TDAPIKey {
			t.Fatalf("secret holds %v (err %v), want the TD receiver's key under %s", keys, err, c.TDURL)
		}
	})

	t.Run("fresh without /v1/flush", func(t *testing.T) { freshWithoutFlushRequest(t, c) })

	chunks, sourceHashes := parseCorpus(t, 1000, want)
	if err := c.ImportChunks(ctx, chunks, db, table); err != nil {
		t.Fatalf("import corpus: %v", err)
	}
	if err := cloud.WaitFor(ctx, 250*time.Millisecond, "catalog count", func(ctx context.Context) (bool, error) {
		n, err := c.CatalogCount(ctx, db, table)
		return n >= want, err
	}); err != nil {
		t.Fatal(err)
	}
	// A forwarder resend (same unique ids) must not count twice.
	if err := c.ImportChunks(ctx, chunks[:2], db, table); err != nil {
		t.Fatalf("resend: %v", err)
	}
	if err := c.ESM.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := c.CatalogCount(ctx, db, table); err != nil || n != want {
		t.Fatalf("catalog count after a resend = %d (err %v), want %d", n, err, want)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var sealed cloud.Sealed
	if err := cloud.WaitFor(ctx, 500*time.Millisecond, "sealed objects", func(ctx context.Context) (bool, error) {
		s, err := c.SealedObjects(ctx, db, table)
		sealed = s
		return len(s.Records) >= want, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.TD.WaitCount(ctx, db, table, want); err != nil {
		t.Fatal(err)
	}
	checkExactSinks(ctx, t, c, db, table, sealed, sourceHashes)

	t.Run("zstd imports", func(t *testing.T) {
		// The same records as msgpack.zst: half in 64 KiB frames (fits one
		// record: ingest passes the client's zstd through), half in 100-byte
		// frames (over the record budget: ingest cuts it into zstd parts).
		// Fanout decodes both; staged and sealed objects and flush's TD
		// uploads stay gzip (SealedObjects reads gzip only).
		const zstdTable = "access_zstd"
		zctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		t0 := time.Now()
		client := &tdimport.Client{Endpoint: c.APIURL, APIKey: c.APIKey, Logger: slog.New(slog.DiscardHandler)}
		half := len(chunks) / 2
		bodies := [][]byte{zstdFrames(t, bytes.Join(chunks[:half], nil), 64<<10), zstdFrames(t, bytes.Join(chunks[half:], nil), 100)}
		if len(bodies[0]) >= envelope.MaxRecordBytes || len(bodies[1]) <= envelope.MaxRecordBytes {
			t.Fatalf("zstd bodies of %d and %d bytes: want one under and one over a Kinesis record", len(bodies[0]), len(bodies[1]))
		}
		for i, body := range bodies {
			if _, err := client.ImportWithIDFormat(zctx, db, zstdTable, fmt.Sprintf("zstd%d", i), tdimport.FormatZstd, body); err != nil {
				t.Fatalf("zstd import %d: %v", i, err)
			}
		}
		if err := cloud.WaitFor(zctx, 250*time.Millisecond, "catalog count of the zstd imports", func(ctx context.Context) (bool, error) {
			n, err := c.CatalogCount(ctx, db, zstdTable)
			return n >= want, err
		}); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(zctx); err != nil {
			t.Fatal(err)
		}
		var sealed cloud.Sealed
		if err := cloud.WaitFor(zctx, 500*time.Millisecond, "sealed objects of the zstd imports", func(ctx context.Context) (bool, error) {
			s, err := c.SealedObjects(ctx, db, zstdTable)
			sealed = s
			return len(s.Records) >= want, err
		}); err != nil {
			t.Fatal(err)
		}
		if err := c.TD.WaitCount(zctx, db, zstdTable, want); err != nil {
			t.Fatal(err)
		}
		if err := c.ESM.WaitIdle(zctx); err != nil {
			t.Fatal(err)
		}
		checkExactSinks(zctx, t, c, db, zstdTable, sealed, sourceHashes)
		out, err := s3.NewFromConfig(c.AWS, func(o *s3.Options) { o.UsePathStyle = true }).ListObjectsV2(zctx, &s3.ListObjectsV2Input{
			Bucket: aws.String(c.Outputs.Bucket), Prefix: aws.String(layout.PrefixQuarantine)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) != 0 {
			t.Errorf("fanout quarantined %d objects, first %s", len(out.Contents), aws.ToString(out.Contents[0].Key))
		}
		t.Logf("zstd imports: %d records through ingest, Kinesis, fanout, flush in %s", want, time.Since(t0).Round(time.Millisecond))
	})

	t.Run("under injected faults", func(t *testing.T) {
		const chaosTable = "access_faults"
		// Different chunking gives different unique ids than the clean run.
		chunks, n, err := cloud.ParseApacheFile(corpusPath, 700)
		if err != nil {
			t.Fatal(err)
		}
		// Each asserted fault fires on the first matching call (Next: 1), so
		// the assertions below do not depend on how many calls the random
		// rates happen to hit (fanout makes only ~15 TransactWriteItems
		// calls here), then at random.
		if err := c.Edge.SetFaults(edge.FaultConfig{Seed: 7, Rules: []edge.FaultRule{
			{Service: "kinesis", Operation: "PutRecords", Next: 1, PartialFailure: 0.5},
			{Service: "kinesis", Operation: "PutRecords", Rate: 0.3, PartialFailure: 0.5},
			{Service: "dynamodb", Operation: "TransactWriteItems", Next: 1, Status: 400, Code: "ProvisionedThroughputExceededException"},
			{Service: "dynamodb", Operation: "TransactWriteItems", Rate: 0.2, Status: 400, Code: "ProvisionedThroughputExceededException"},
			{Service: "dynamodb", Rate: 0.05, Status: 400, Code: "ThrottlingException"},
			{Service: "s3", Operation: "PutObject", Next: 1, Status: 503, Code: "SlowDown"},
			{Service: "s3", Operation: "PutObject", Rate: 0.1, Status: 503, Code: "SlowDown"},
		}}); err != nil {
			t.Fatal(err)
		}
		c.TD.FailNext(3, 500, 0)
		if err := c.ImportChunks(ctx, chunks, db, chaosTable); err != nil {
			t.Fatalf("import under faults: %v", err)
		}
		if err := cloud.WaitFor(ctx, 250*time.Millisecond, "catalog count under faults", func(ctx context.Context) (bool, error) {
			got, err := c.CatalogCount(ctx, db, chaosTable)
			return got >= int64(n), err
		}); err != nil {
			t.Fatal(err)
		}
		if err := c.ESM.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		_, counters := c.Edge.Faults()
		if err := c.Edge.SetFaults(edge.FaultConfig{}); err != nil {
			t.Fatal(err)
		}
		t.Logf("injected: %v", counters)
		for _, k := range []string{"kinesis.PutRecords.PartialFailure", "dynamodb.TransactWriteItems.ProvisionedThroughputExceededException", "s3.PutObject.SlowDown"} {
			if counters[k] == 0 {
				t.Errorf("no %s fault was injected; the test exercised nothing there", k)
			}
		}
		// Racing flushes: four forced runs at once (flush has reserved
		// concurrency 10 on AWS, 4 here), with the edge's DynamoDB conflicts,
		// limits and throttles on; the faults above are off by now, the
		// AWS behaviours are not.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.Functions["flush"].Runner.Invoke(ctx, []byte(`{"source":"spillway.ingest","force":true}`))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("racing flush %d: %v", i, err)
			}
		}
		var sealed cloud.Sealed
		if err := cloud.WaitFor(ctx, 500*time.Millisecond, "sealed objects under faults", func(ctx context.Context) (bool, error) {
			s, err := c.SealedObjects(ctx, db, chaosTable)
			sealed = s
			return len(s.Records) >= n, err
		}); err != nil {
			t.Fatal(err)
		}
		if err := c.TD.WaitCount(ctx, db, chaosTable, n); err != nil {
			t.Fatal(err)
		}
		if got, err := c.CatalogCount(ctx, db, chaosTable); err != nil || got != int64(n) {
			t.Errorf("catalog count %d (err %v), want %d", got, err, n)
		}
		if len(sealed.Records) != n || c.TD.Count(db, chaosTable) != n {
			t.Errorf("sealed %d, TD %d; want %d each", len(sealed.Records), c.TD.Count(db, chaosTable), n)
		}
		if !slices.Equal(sealed.Hashes(), c.TD.Hashes(db, chaosTable)) {
			t.Errorf("S3 and TD records differ under faults")
		}
		checkLake(ctx, t, c, db, chaosTable, sealed)
		if c.TD.Failures() != 3 {
			t.Errorf("TD receiver injected %d failures, want 3", c.TD.Failures())
		}
	})
}
