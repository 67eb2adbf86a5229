package cloud_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/localtest"
	"github.com/spillwayhq/spillway/shared/lake"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
	"github.com/spillwayhq/spillway/shared/layout"
)

// TestPipelineCrashPoints crashes fanout and flush (the real bootstrap
// processes exit) once at every fault point in turn while the ESM redelivers
// and flush is invoked again, and checks that the 10k corpus still lands
// exactly once in the catalog, in the sealed S3 objects, in the TD
// receiver and in the lake, and that nothing is left staged.
func TestPipelineCrashPoints(t *testing.T) {
	// The lake is on: flush also crashes once after an append's (or a
	// compaction's) data files are written and once after its commit.
	points := map[string][]string{"fanout": fanout.FaultPoints, "flush": append(slices.Clone(flush.FaultPoints), lake.FaultDataWritten, lake.FaultCommitted)}
	env := map[string]map[string]string{}
	for fn, ps := range points {
		specs := make([]string, len(ps))
		for i, p := range ps {
			specs[i] = p + "@once"
		}
		env[fn] = map[string]string{lambdaenv.FaultPoint: strings.Join(specs, ",")}
	}
	c := localtest.Start(t, localtest.WithOptions(func(o *cloud.Options) { o.FunctionEnv = env }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const db, table, want = "www", "access", 10000

	// The deployed mapping must retry a crashed batch often enough (all
	// fanout crashes may hit the same records) rather than give up on it.
	m, err := lambda.NewFromConfig(c.AWS).GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(c.Outputs.ESMUUID)})
	if err != nil {
		t.Fatal(err)
	}
	if r := m.MaximumRetryAttempts; r != nil && *r >= 0 && int(*r) < len(fanout.FaultPoints) {
		t.Fatalf("deployed MaximumRetryAttempts %d < %d fanout crash points", *r, len(fanout.FaultPoints))
	}

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
	if err := c.ESM.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	// Every fanout crash is a function error the ESM answered with a retry
	// of the batch or, for a batch of several records, with a bisect; none
	// may have been given up on.
	st := c.ESM.Stats()
	t.Logf("esm: %d batches, %d retries, %d bisects, %d partial failures, %d sent to on-failure",
		st.Batches, st.Retries, st.Bisects, st.PartialFailures, st.OnFailureBatches)
	if st.Retries+st.Bisects < int64(len(fanout.FaultPoints)) {
		t.Errorf("esm redelivered %d times (%d retries, %d bisects), want at least one per fanout crash (%d)",
			st.Retries+st.Bisects, st.Retries, st.Bisects, len(fanout.FaultPoints))
	}
	if st.OnFailureBatches != 0 {
		t.Errorf("esm gave up on %d batches (%d records)", st.OnFailureBatches, st.OnFailureRecords)
	}

	// Flush on demand until nothing is left: each crash ends an async
	// attempt (Lambda retries it twice), so flush is asked again after its
	// attempts are over, until it finishes a manifest.
	flushRunner := c.Functions["flush"].Runner
	var left []string
	if err := cloud.WaitFor(ctx, 500*time.Millisecond, "flush to finish", func(ctx context.Context) (bool, error) {
		l, err := leftovers(ctx, c, db, table, want)
		left = l
		if err != nil || len(l) == 0 {
			return err == nil, err
		}
		if err := c.Flush(ctx); err != nil {
			return false, err
		}
		return false, flushRunner.WaitAsync(ctx)
	}); err != nil {
		t.Fatalf("%v; left: %v", err, left)
	}
	// One more flush finds nothing to do and must change nothing.
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := flushRunner.WaitAsync(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := leftovers(ctx, c, db, table, want); err != nil || len(l) != 0 {
		t.Errorf("after a last flush: left %v (err %v)", l, err)
	}

	sealed, err := c.SealedObjects(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	checkExactSinks(ctx, t, c, db, table, sealed, sourceHashes)

	for fn, ps := range points {
		for _, p := range ps {
			marker := filepath.Join(c.FunctionTmpDir, "spillway-fault-"+fn+"-"+p)
			if _, err := os.Stat(marker); err != nil {
				t.Errorf("%s never crashed at %s: %v", fn, p, err)
			}
		}
		rs := c.Functions[fn].Runner.Stats()
		t.Logf("%s: %d invocations, %d errors, %d exits, %d timeouts, %d async failed",
			fn, rs.Invocations, rs.Errors, rs.Exits, rs.Timeouts, rs.AsyncFailed)
		if rs.Exits != int64(len(ps)) {
			t.Errorf("%s exited %d times, want once per fault point (%d)", fn, rs.Exits, len(ps))
		}
	}
}

// leftovers describes what still stands between db.table and a finished
// flush: staged or late S3 objects, manifest bodies, staged items in the
// manifests table, manifests neither done nor aborted, and sealed or TD
// record counts below want. It is empty once every staged record was
// sealed and imported.
func leftovers(ctx context.Context, c *cloud.Cloud, db, table string, want int) ([]string, error) {
	var out []string
	sc := s3.NewFromConfig(c.AWS, func(o *s3.Options) { o.UsePathStyle = true })
	for _, prefix := range []string{layout.PrefixStaged, layout.PrefixLate, layout.PrefixManifests} {
		prefix = layout.TablePrefix(prefix, db, table)
		p := s3.NewListObjectsV2Paginator(sc, &s3.ListObjectsV2Input{Bucket: aws.String(c.Outputs.Bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", prefix, err)
			}
			if n := len(page.Contents); n > 0 {
				out = append(out, fmt.Sprintf("%d objects under %s", n, prefix))
			}
		}
	}
	dc := dynamodb.NewFromConfig(c.AWS)
	for _, pk := range []string{layout.StagedPK(db, table), layout.ManifestPK(db, table)} {
		p := dynamodb.NewQueryPaginator(dc, &dynamodb.QueryInput{
			TableName:                 aws.String(c.Outputs.ManifestTable),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
			ConsistentRead:            aws.Bool(true),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("query %s: %w", pk, err)
			}
			for _, item := range page.Items {
				if pk == layout.StagedPK(db, table) {
					out = append(out, "staged item "+attrString(item["sk"]))
					continue
				}
				var m flush.Manifest
				if err := attributevalue.UnmarshalMap(item, &m); err != nil {
					return nil, fmt.Errorf("decode manifest: %w", err)
				}
				if m.State != flush.StateDone && m.State != flush.StateAborted {
					out = append(out, "manifest "+m.ID+" in state "+m.State)
				}
			}
		}
	}
	sealed, err := c.SealedObjects(ctx, db, table)
	if err != nil {
		return nil, err
	}
	if n := len(sealed.Records); n < want {
		out = append(out, fmt.Sprintf("%d sealed records", n))
	}
	if n := c.TD.Count(db, table); n < want {
		out = append(out, fmt.Sprintf("%d records in the TD receiver", n))
	}
	return out, nil
}

func attrString(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return fmt.Sprint(v)
}
