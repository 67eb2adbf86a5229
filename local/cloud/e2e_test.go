package cloud_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/localtest"
)

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

	t.Run("under injected faults", func(t *testing.T) {
		const chaosTable = "access_faults"
		// Different chunking gives different unique ids than the clean run.
		chunks, n, err := cloud.ParseApacheFile(corpusPath, 700)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Edge.SetFaults(edge.FaultConfig{Seed: 7, Rules: []edge.FaultRule{
			{Service: "kinesis", Operation: "PutRecords", Rate: 0.3, PartialFailure: 0.5},
			{Service: "dynamodb", Operation: "TransactWriteItems", Rate: 0.2, Status: 400, Code: "ProvisionedThroughputExceededException"},
			{Service: "dynamodb", Rate: 0.05, Status: 400, Code: "ThrottlingException"},
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
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
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
		if c.TD.Failures() != 3 {
			t.Errorf("TD receiver injected %d failures, want 3", c.TD.Failures())
		}
	})
}
