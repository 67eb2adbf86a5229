package edge

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/shared/awsconf"
)

// TestBillingUnits: each call's billing units through the real SDK, one
// operation at a time, against the sizes worked out by hand from AWS's
// rules (see BillingUnits). Item sizes: "id" (2) + id value (1) + "v" (1)
// + the value of v.
func TestBillingUnits(t *testing.T) {
	e := startEdge(t, Config{Metering: true})
	cfg := awsConfig(t, e.URL())
	ctx := context.Background()
	dc := dynamodb.NewFromConfig(cfg)
	kc := kinesis.NewFromConfig(cfg)
	sc := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	table := createTable(t, dc)
	stream := uniqueName(t, "meter")
	createStream(t, kc, stream)
	bucket := uniqueName(t, "meter")
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	v := func(n int) ddbtypes.AttributeValue { return sv(strings.Repeat("x", n)) }
	key := func(id string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"id": sv(id)}
	}
	var seq string
	tests := []struct {
		name string
		op   string // service.operation whose units are checked
		call func() error
		want BillingUnits
	}{
		{"put 1,504-byte item: 2 WCU", "dynamodb.PutItem", func() error {
			_, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("a"), "v": v(1500)}})
			return err
		}, BillingUnits{DynamoDBWriteUnits: 2}},
		{"update to 3,004 bytes: the larger size, 3 WCU", "dynamodb.UpdateItem", func() error {
			_, err := dc.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key("a"),
				UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": v(3000)}})
			return err
		}, BillingUnits{DynamoDBWriteUnits: 3}},
		{"failed condition: the existing item's 3 WCU", "dynamodb.PutItem", func() error {
			_, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("a")},
				ConditionExpression: aws.String("attribute_not_exists(id)")})
			if err == nil {
				t.Error("conditional put succeeded")
			}
			return nil
		}, BillingUnits{DynamoDBWriteUnits: 3}},
		{"update shrinking to 504 bytes: the larger size before, 3 WCU", "dynamodb.UpdateItem", func() error {
			_, err := dc.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key("a"),
				UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": v(500)}})
			return err
		}, BillingUnits{DynamoDBWriteUnits: 3}},
		{"delete of a 504-byte item: 1 WCU", "dynamodb.DeleteItem", func() error {
			_, err := dc.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key("a")})
			return err
		}, BillingUnits{DynamoDBWriteUnits: 1}},
		{"transaction of two puts of 1,028 and 104 bytes: (2+1) x 2 WCU", "dynamodb.TransactWriteItems", func() error {
			_, err := dc.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
				{Put: &ddbtypes.Put{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("c"), "v": v(1024)}}},
				{Put: &ddbtypes.Put{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("b"), "v": v(100)}}},
			}})
			return err
		}, BillingUnits{DynamoDBWriteUnits: 6}},
		{"eventually consistent get: 0.5 RCU", "dynamodb.GetItem", func() error {
			_, err := dc.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("b")})
			return err
		}, BillingUnits{DynamoDBReadUnits: 0.5}},
		{"strongly consistent get of a missing item: 1 RCU", "dynamodb.GetItem", func() error {
			_, err := dc.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("none"), ConsistentRead: aws.Bool(true)})
			return err
		}, BillingUnits{DynamoDBReadUnits: 1}},
		{"batch get, one found, one missing, strongly consistent: 2 RCU", "dynamodb.BatchGetItem", func() error {
			_, err := dc.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{
				table: {Keys: []map[string]ddbtypes.AttributeValue{key("b"), key("none")}, ConsistentRead: aws.Bool(true)}}})
			return err
		}, BillingUnits{DynamoDBReadUnits: 2}},
		{"scan of 1,132 bytes, eventually consistent: 0.5 RCU", "dynamodb.Scan", func() error {
			_, err := dc.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
			return err
		}, BillingUnits{DynamoDBReadUnits: 0.5}},
		{"records of 5,121 and 46,081 bytes: 1+2 payload units, 6+46 KB", "kinesis.PutRecords", func() error {
			_, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []kintypes.PutRecordsRequestEntry{
				{Data: bytes.Repeat([]byte("d"), 5*1024), PartitionKey: aws.String("p")},
				{Data: bytes.Repeat([]byte("d"), 45*1024), PartitionKey: aws.String("p")},
			}})
			return err
		}, BillingUnits{KinesisRecords: 2, KinesisPayloadUnits: 3, KinesisWrittenKB: 52}},
		{"get records: 51,200 data bytes read", "kinesis.GetRecords", func() error {
			d, err := kc.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)})
			if err != nil {
				return err
			}
			it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
				ShardId: d.StreamDescription.Shards[0].ShardId, ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon})
			if err != nil {
				return err
			}
			seq = aws.ToString(it.ShardIterator)
			_, err = kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(seq)})
			return err
		}, BillingUnits{KinesisReadBytes: 51200}},
		{"S3 put: tier 1", "s3.PutObject", func() error {
			_, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("x")})
			return err
		}, BillingUnits{S3Class: "tier1"}},
		{"S3 head: tier 2", "s3.HeadObject", func() error {
			_, err := sc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
			return err
		}, BillingUnits{S3Class: "tier2"}},
		{"S3 delete: free", "s3.DeleteObject", func() error {
			_, err := sc.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
			return err
		}, BillingUnits{S3Class: "free"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.ResetCalls()
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			got := waitCall(t, e, tc.op).BillingUnits
			if got != tc.want {
				t.Errorf("%s units %+v, want %+v", tc.op, got, tc.want)
			}
		})
	}
}

// TestCallsByCaller: calls signed with another access key are counted
// under that caller only; Calls sums every caller.
func TestCallsByCaller(t *testing.T) {
	e := startEdge(t, Config{})
	ctx := context.Background()
	other, err := awsconf.Load(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("harness", "test", "")),
		config.WithBaseEndpoint(e.URL()))
	if err != nil {
		t.Fatal(err)
	}
	bucket := uniqueName(t, "caller")
	if _, err := s3.NewFromConfig(awsConfig(t, e.URL()), func(o *s3.Options) { o.UsePathStyle = true }).
		CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.NewFromConfig(other, func(o *s3.Options) { o.UsePathStyle = true }).
		ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	waitCall(t, e, "s3.CreateBucket")
	waitCall(t, e, "s3.ListObjectsV2")
	ops := func(cs []CallCount) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Operation)
		}
		return strings.Join(out, ",")
	}
	if got := ops(e.CallsBy("test")); got != "CreateBucket" {
		t.Errorf("CallsBy(test) = %s, want CreateBucket", got)
	}
	if got := ops(e.CallsBy("harness")); got != "ListObjectsV2" {
		t.Errorf("CallsBy(harness) = %s, want ListObjectsV2", got)
	}
	if got := ops(e.Calls()); got != "CreateBucket,ListObjectsV2" {
		t.Errorf("Calls() = %s", got)
	}
}

// waitCall returns the count of op ("service.operation") once the edge
// has counted it: a call is counted after its answer is sent.
func waitCall(t *testing.T, e *Server, op string) CallCount {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, c := range e.Calls() {
			if c.Service+"."+c.Operation == op {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not counted within 10s", op)
		}
		<-tick.C
	}
}
