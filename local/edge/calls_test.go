package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/internal/syncbuf"
)

// TestCallsCounted: every request through the edge is counted by service
// and operation with its body bytes, a refused one too; the control
// endpoint reports and resets the counts.
func TestCallsCounted(t *testing.T) {
	s := startEdge(t, Config{})
	ctx := context.Background()
	cl := s3.NewFromConfig(awsConfig(t, s.URL()), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := uniqueName(t, "calls")
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("12345")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing")}); err == nil {
		t.Fatal("GetObject of a missing key succeeded")
	}
	got := map[string]CallCount{}
	for _, c := range s.Calls() {
		got[c.Service+"."+c.Operation] = c
	}
	if p := got["s3.PutObject"]; p.Requests != 3 || p.RequestBytes != 15 {
		t.Errorf("PutObject counted %+v, want 3 requests of 15 bytes", p)
	}
	if g := got["s3.GetObject"]; g.Requests != 1 || g.ResponseBytes == 0 {
		t.Errorf("GetObject counted %+v, want 1 request with its error body", g)
	}
	resp, err := http.Get(s.URL() + "/_spillway/calls")
	if err != nil {
		t.Fatal(err)
	}
	var listed []CallCount
	err = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil || len(listed) < 3 {
		t.Fatalf("GET /_spillway/calls: %v %+v", err, listed)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.URL()+"/_spillway/calls", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if left := s.Calls(); len(left) != 0 {
		t.Errorf("after reset: %+v", left)
	}
}

// TestCallResources: calls through the edge are counted by the resource
// they address: the S3 key's first segment (a listing's prefix; an Iceberg
// table's metadata/ or data/), the DynamoDB table with its partition key's
// kind.
func TestCallResources(t *testing.T) {
	s := startEdge(t, Config{Metering: true})
	ctx := context.Background()
	cfg := awsConfig(t, s.URL())
	sc := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	dc := dynamodb.NewFromConfig(cfg)
	bucket := uniqueName(t, "res")
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	table := createTableHashRange(t, dc)
	s.ResetCalls()
	for _, k := range []string{"staged/db/t/1.msgpack.zst", "data/db/t/dt=2026-12-08/a.zst", "lake/db.db/t/metadata/v1.metadata.json",
		"lake/db.db/t/data/dt=2026-12-08/x.parquet", "top"} {
		if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("manifests/db/t/")}); err != nil {
		t.Fatal(err)
	}
	key := map[string]ddbtypes.AttributeValue{"id": sv("staged#db.t"), "sk": sv("staged/db/t/1")}
	if _, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: key}); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"id": sv("db"), "sk": sv("t")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table), KeyConditionExpression: aws.String("#p = :p AND sk > :s"),
		ExpressionAttributeNames:  map[string]string{"#p": "id"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": sv("manifest#db.t"), ":s": sv("a")}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range s.CallsByResource("test") {
		got[c.Service+"."+c.Operation+" "+c.Resource] += c.Requests
	}
	if byOp := s.Calls(); len(byOp) != 5 || byOp[len(byOp)-1].Operation != "PutObject" || byOp[len(byOp)-1].Requests != 5 {
		t.Errorf("Calls sums by operation: %+v", byOp)
	}
	want := map[string]int64{
		"s3.PutObject " + bucket + "/staged/":          1,
		"s3.PutObject " + bucket + "/data/":            1,
		"s3.PutObject " + bucket + "/lake/*/metadata/": 1,
		"s3.PutObject " + bucket + "/lake/*/data/":     1,
		"s3.PutObject " + bucket + "/":                 1,
		"s3.ListObjectsV2 " + bucket + "/manifests/":   1,
		"dynamodb.PutItem " + table + "/staged":        1,
		"dynamodb.GetItem " + table:                    1,
		"dynamodb.Query " + table + "/manifest":        1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d requests, want %d (counted %v)", k, got[k], n, got)
		}
	}
}

// TestTraceCallsAndMarks checks that with TraceCalls every call is logged
// before it is counted, so that a mark made after a snapshot of the counts
// follows the lines of every call the snapshot counted (spillway cost's
// windows), and that without TraceCalls nothing is logged.
func TestTraceCallsAndMarks(t *testing.T) {
	for _, trace := range []bool{true, false} {
		t.Run(fmt.Sprint("trace=", trace), func(t *testing.T) {
			var logs syncbuf.Buffer
			s := startEdge(t, Config{TraceCalls: trace, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			ctx := context.Background()
			cl := s3.NewFromConfig(awsConfig(t, s.URL()), func(o *s3.Options) { o.UsePathStyle = true })
			bucket := uniqueName(t, "trace")
			if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatal(err)
			}
			for range 20 {
				if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
					t.Fatal(err)
				}
			}
			counted := 0
			for _, c := range s.Calls() {
				if c.Service == "s3" && c.Operation == "PutObject" {
					counted = int(c.Requests)
				}
			}
			s.Mark("window end", "n", 1)
			logged, marks := 0, 0
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var l struct{ Msg, Operation, Label string }
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				switch {
				case l.Msg == "mark" && l.Label == "window end":
					marks++
				case l.Msg == "call" && l.Operation == "PutObject" && marks == 0:
					logged++
				}
			}
			want := map[bool][2]int{true: {20, 1}, false: {0, 0}}[trace]
			if counted != 20 || logged != want[0] || marks != want[1] {
				t.Errorf("counted %d PutObject, logged %d before the mark, %d marks; want 20, %d, %d", counted, logged, marks, want[0], want[1])
			}
		})
	}
}
