package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/spillwayhq/spillway/local/moto"
	"github.com/spillwayhq/spillway/shared/awsconf"
)

// sharedMoto is the moto server shared by the tests of this package,
// started on first use (fuzz workers never start one) and stopped by
// TestMain.
var sharedMoto struct {
	once sync.Once
	srv  *moto.Server
	err  error
}

// motoURL returns the shared moto server's URL, starting it if needed.
func motoURL(t testing.TB) string {
	t.Helper()
	sharedMoto.once.Do(func() {
		sharedMoto.srv, sharedMoto.err = moto.Start(context.Background(), moto.Options{})
	})
	if sharedMoto.err != nil {
		t.Fatalf("start moto: %v", sharedMoto.err)
	}
	return sharedMoto.srv.URL()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedMoto.srv != nil {
		if err := sharedMoto.srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stop moto:", err)
		}
	}
	os.Exit(code)
}

// startEdge starts an edge in front of the shared moto on a free port.
func startEdge(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Backend == "" {
		cfg.Backend = motoURL(t)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start edge: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close edge: %v", err)
		}
	})
	return s
}

// awsConfig is an SDK configuration that reaches the edge, with SDK retries
// off so injected faults are visible.
func awsConfig(t testing.TB, edgeURL string) aws.Config {
	t.Helper()
	cfg, err := awsconf.Load(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithRetryMaxAttempts(1),
		config.WithBaseEndpoint(edgeURL),
	)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func uniqueName(t testing.TB, prefix string) string {
	t.Helper()
	return prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func createStream(t testing.TB, kc *kinesis.Client, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	w := kinesis.NewStreamExistsWaiter(kc, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 200 * time.Millisecond
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("wait for stream: %v", err)
	}
}

// readStream returns every record's data in the stream's single shard.
func readStream(t testing.TB, kc *kinesis.Client, name string) []string {
	t.Helper()
	ctx := context.Background()
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(name), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatalf("get shard iterator: %v", err)
	}
	var out []string
	iter := it.ShardIterator
	for iter != nil {
		res, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		if err != nil {
			t.Fatalf("get records: %v", err)
		}
		for _, r := range res.Records {
			out = append(out, string(r.Data))
		}
		if len(res.Records) == 0 {
			break
		}
		iter = res.NextShardIterator
	}
	return out
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestEdgeForwardsToMoto(t *testing.T) {
	e := startEdge(t, Config{})
	cfg := awsConfig(t, e.URL())
	ctx := context.Background()
	t.Run("kinesis", func(t *testing.T) {
		kc := kinesis.NewFromConfig(cfg)
		name := uniqueName(t, "fwd")
		createStream(t, kc, name)
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("p"), Data: []byte("hello")}); err != nil {
			t.Fatal(err)
		}
		if got := readStream(t, kc, name); len(got) != 1 || got[0] != "hello" {
			t.Fatalf("read back %q", got)
		}
	})
	t.Run("s3", func(t *testing.T) {
		sc := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		bucket := uniqueName(t, "bkt")
		if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a/b.txt"), Body: bytes.NewReader([]byte("body"))}); err != nil {
			t.Fatal(err)
		}
		out, err := sc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("a/b.txt")})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out.Body)
		_ = out.Body.Close()
		if string(b) != "body" {
			t.Fatalf("got %q", b)
		}
	})
	t.Run("dynamodb", func(t *testing.T) {
		dc := dynamodb.NewFromConfig(cfg)
		table := createTable(t, dc)
		if _, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "x"}}}); err != nil {
			t.Fatal(err)
		}
		out, err := dc.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "x"}}})
		if err != nil || out.Item == nil {
			t.Fatalf("get item: %v %v", out, err)
		}
	})
}

func createTable(t testing.TB, dc *dynamodb.Client) string {
	t.Helper()
	name := uniqueName(t, "tbl")
	_, err := dc.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	return name
}

func TestFaultCodesReachSDK(t *testing.T) {
	e := startEdge(t, Config{})
	cfg := awsConfig(t, e.URL())
	ctx := context.Background()
	kc := kinesis.NewFromConfig(cfg)
	dc := dynamodb.NewFromConfig(cfg)
	sc := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	stream := uniqueName(t, "flt")
	createStream(t, kc, stream)
	table := createTable(t, dc)
	bucket := uniqueName(t, "flt")
	if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		rule   FaultRule
		call   func() error
		status int
	}{
		{"kinesis throughput", FaultRule{Service: "kinesis", Operation: "PutRecords", Next: 1, Status: 400, Code: "ProvisionedThroughputExceededException"}, func() error {
			_, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []kintypes.PutRecordsRequestEntry{{Data: []byte("x"), PartitionKey: aws.String("p")}}})
			return err
		}, 400},
		{"dynamodb throughput", FaultRule{Service: "dynamodb", Operation: "PutItem", Next: 1, Status: 400, Code: "ProvisionedThroughputExceededException"}, func() error {
			_, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "y"}}})
			return err
		}, 400},
		{"dynamodb throttling", FaultRule{Service: "dynamodb", Next: 1, Status: 400, Code: "ThrottlingException"}, func() error {
			_, err := dc.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"id": &ddbtypes.AttributeValueMemberS{Value: "y"}}})
			return err
		}, 400},
		{"s3 slowdown", FaultRule{Service: "s3", Operation: "PutObject", Next: 1, Status: 503, Code: "SlowDown"}, func() error {
			_, err := sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: bytes.NewReader([]byte("v"))})
			return err
		}, 503},
		{"internal failure any service", FaultRule{Service: "*", Next: 1, Status: 500, Code: "InternalFailure"}, func() error {
			_, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
			return err
		}, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.SetFaults(FaultConfig{Rules: []FaultRule{tt.rule}}); err != nil {
				t.Fatal(err)
			}
			e.ResetFaultCounters()
			err := tt.call()
			if got := apiCode(err); got != tt.rule.Code {
				t.Fatalf("error code = %q (err %v), want %q", got, err, tt.rule.Code)
			}
			var re interface{ HTTPStatusCode() int }
			if errors.As(err, &re) && re.HTTPStatusCode() != tt.status {
				t.Fatalf("status = %d, want %d", re.HTTPStatusCode(), tt.status)
			}
			_, counters := e.Faults()
			var total int64
			for _, v := range counters {
				total += v
			}
			if total != 1 {
				t.Fatalf("counters = %v, want one injection", counters)
			}
			if err := tt.call(); err != nil {
				t.Fatalf("call after the rule was spent: %v", err)
			}
		})
	}
}

func TestPartialPutRecords(t *testing.T) {
	e := startEdge(t, Config{Seed: 11})
	cfg := awsConfig(t, e.URL())
	kc := kinesis.NewFromConfig(cfg)
	stream := uniqueName(t, "part")
	createStream(t, kc, stream)
	if err := e.SetFaults(FaultConfig{Rules: []FaultRule{{Service: "kinesis", Operation: "PutRecords", Next: 1, PartialFailure: 0.3}}}); err != nil {
		t.Fatal(err)
	}
	var entries []kintypes.PutRecordsRequestEntry
	for i := 0; i < 10; i++ {
		entries = append(entries, kintypes.PutRecordsRequestEntry{Data: []byte("rec-" + strconv.Itoa(i)), PartitionKey: aws.String(strconv.Itoa(i))})
	}
	out, err := kc.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 3 || len(out.Records) != 10 {
		t.Fatalf("FailedRecordCount = %d, records %d; want 3 of 10", aws.ToInt32(out.FailedRecordCount), len(out.Records))
	}
	var want []string
	for i, r := range out.Records {
		switch {
		case r.ErrorCode != nil:
			if *r.ErrorCode != "ProvisionedThroughputExceededException" || r.SequenceNumber != nil {
				t.Fatalf("record %d: %+v", i, r)
			}
		case r.SequenceNumber == nil || r.ShardId == nil:
			t.Fatalf("record %d has neither error nor sequence number", i)
		default:
			want = append(want, "rec-"+strconv.Itoa(i))
		}
	}
	got := readStream(t, kc, stream)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("stream holds %v, want exactly the accepted %v", got, want)
	}
	_, counters := e.Faults()
	if counters["kinesis.PutRecords.PartialFailure"] != 1 || counters["kinesis.PutRecords.ProvisionedThroughputExceededException.records"] != 3 {
		t.Fatalf("counters = %v", counters)
	}
}

func TestConcurrentPutRecordsSerialised(t *testing.T) {
	e := startEdge(t, Config{})
	kc := kinesis.NewFromConfig(awsConfig(t, e.URL()))
	stream := uniqueName(t, "conc")
	createStream(t, kc, stream)
	const writers, calls, per = 4, 10, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*calls)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := 0; c < calls; c++ {
				var entries []kintypes.PutRecordsRequestEntry
				for i := 0; i < per; i++ {
					entries = append(entries, kintypes.PutRecordsRequestEntry{Data: []byte(fmt.Sprintf("%d-%d-%d", w, c, i)), PartitionKey: aws.String("p")})
				}
				out, err := kc.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
				if err == nil && aws.ToInt32(out.FailedRecordCount) != 0 {
					err = fmt.Errorf("%d records failed", aws.ToInt32(out.FailedRecordCount))
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := readStream(t, kc, stream)
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	if len(got) != writers*calls*per || len(seen) != writers*calls*per {
		t.Fatalf("stream holds %d records (%d distinct), want %d", len(got), len(seen), writers*calls*per)
	}
}

func TestLambdaInvoke(t *testing.T) {
	async := make(chan string, 1)
	inv := InvokerFunc(func(ctx context.Context, fn string, payload []byte) (InvokeResult, error) {
		switch fn {
		case "echo":
			return InvokeResult{Payload: payload}, nil
		case "boom":
			return InvokeResult{Payload: []byte(`{"errorMessage":"boom","errorType":"errorString"}`), FunctionError: "Unhandled"}, nil
		case "later":
			async <- string(payload)
			return InvokeResult{Payload: []byte("null")}, nil
		}
		return InvokeResult{}, fmt.Errorf("%s: %w", fn, ErrUnknownFunction)
	})
	e := startEdge(t, Config{})
	lc := lambda.NewFromConfig(awsConfig(t, e.URL()))
	ctx := context.Background()

	t.Run("no invoker", func(t *testing.T) {
		_, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo")})
		if apiCode(err) != "ResourceNotFoundException" {
			t.Fatalf("err = %v", err)
		}
	})
	e.SetInvoker(inv)
	tests := []struct {
		name     string
		fn       string
		typ      lambdatypes.InvocationType
		status   int32
		fnErr    string
		payload  string
		wantCode string
	}{
		{"sync ok", "echo", lambdatypes.InvocationTypeRequestResponse, 200, "", `{"a":1}`, ""},
		{"sync by arn", "arn:aws:lambda:us-east-1:123456789012:function:echo", lambdatypes.InvocationTypeRequestResponse, 200, "", `{"b":2}`, ""},
		{"function error", "boom", lambdatypes.InvocationTypeRequestResponse, 200, "Unhandled", `{}`, ""},
		{"unknown function", "nope", lambdatypes.InvocationTypeRequestResponse, 0, "", `{}`, "ResourceNotFoundException"},
		{"dry run", "echo", lambdatypes.InvocationTypeDryRun, 204, "", `{}`, ""},
		{"event", "later", lambdatypes.InvocationTypeEvent, 202, "", `{"source":"spillway.ingest","force":true}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(tt.fn), InvocationType: tt.typ, Payload: []byte(tt.payload)})
			if tt.wantCode != "" {
				if apiCode(err) != tt.wantCode {
					t.Fatalf("err = %v, want %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.StatusCode != tt.status || aws.ToString(out.FunctionError) != tt.fnErr {
				t.Fatalf("status %d fnErr %q, want %d %q", out.StatusCode, aws.ToString(out.FunctionError), tt.status, tt.fnErr)
			}
			switch tt.typ {
			case lambdatypes.InvocationTypeRequestResponse:
				if tt.fnErr == "" && string(out.Payload) != tt.payload {
					t.Fatalf("payload %q, want %q", out.Payload, tt.payload)
				}
			case lambdatypes.InvocationTypeEvent:
				select {
				case got := <-async:
					if got != tt.payload {
						t.Fatalf("async payload %q", got)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("async invocation did not run within 10s")
				}
			}
		})
	}
}

func TestControlEndpoint(t *testing.T) {
	e := startEdge(t, Config{})
	post := func(body string) (int, faultsState) {
		resp, err := http.Post(e.URL()+"/_spillway/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st faultsState
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return resp.StatusCode, st
	}
	tests := []struct {
		name   string
		body   string
		status int
		rules  int
	}{
		{"valid", `{"seed":5,"rules":[{"service":"s3","operation":"PutObject","next":2,"status":503,"code":"SlowDown","latency":"5ms"}]}`, 200, 1},
		{"unknown field", `{"rules":[{"service":"s3","next":1,"status":503,"code":"SlowDown","bogus":1}]}`, 400, 0},
		{"invalid rule", `{"rules":[{"service":"s3","next":1,"status":200,"code":"X"}]}`, 400, 0},
		{"not json", `rules: []`, 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, st := post(tt.body)
			if status != tt.status || len(st.Rules) != tt.rules {
				t.Fatalf("status %d rules %d, want %d %d", status, len(st.Rules), tt.status, tt.rules)
			}
		})
	}
	// The valid rule is still in place after the rejected posts.
	sc := s3.NewFromConfig(awsConfig(t, e.URL()), func(o *s3.Options) { o.UsePathStyle = true })
	_, err := sc.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k"), Body: bytes.NewReader(nil)})
	if apiCode(err) != "SlowDown" {
		t.Fatalf("err = %v, want SlowDown", err)
	}
	resp, err := http.Get(e.URL() + "/_spillway/faults")
	if err != nil {
		t.Fatal(err)
	}
	var st faultsState
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if st.Counters["s3.PutObject.SlowDown"] != 1 || len(st.Rules) != 1 || st.Rules[0].Next != 1 {
		t.Fatalf("state = %+v", st)
	}
	req, _ := http.NewRequest(http.MethodDelete, e.URL()+"/_spillway/faults", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if cfg, counters := e.Faults(); len(cfg.Rules) != 0 || len(counters) != 0 {
		t.Fatalf("after DELETE: %+v %v", cfg, counters)
	}
	resp, err = http.Get(e.URL() + "/_localstack/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v", err)
	}
	_ = resp.Body.Close()
}

func TestLatencyInjected(t *testing.T) {
	e := startEdge(t, Config{Faults: FaultConfig{Rules: []FaultRule{{Service: "kinesis", Operation: "ListStreams", Next: 1, Latency: Duration(100 * time.Millisecond)}}}})
	kc := kinesis.NewFromConfig(awsConfig(t, e.URL()))
	start := time.Now()
	if _, err := kc.ListStreams(context.Background(), &kinesis.ListStreamsInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("call took %v, want at least the injected 100ms", d)
	}
	if _, counters := e.Faults(); counters["kinesis.ListStreams.Latency"] != 1 {
		t.Fatalf("counters = %v", counters)
	}
}

func TestStartErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	tests := []struct {
		name string
		cfg  Config
		want error
		text string
	}{
		{"port taken", Config{Addr: l.Addr().String(), Backend: motoURL(t)}, ErrPortInUse, ""},
		{"no backend", Config{Addr: "127.0.0.1:0"}, nil, "Backend: required"},
		{"bad backend", Config{Addr: "127.0.0.1:0", Backend: "ftp://x"}, nil, "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(context.Background(), tt.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatal("want error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.text != "" && !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want containing %q", err, tt.text)
			}
		})
	}
}

func TestCloseOnContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Config{Addr: "127.0.0.1:0", Backend: motoURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			_ = l.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s still taken 10s after cancel", addr)
		}
		pollPause()
	}
}

// pollPause spaces out the polls of a condition that has a deadline.
func pollPause() { <-time.After(10 * time.Millisecond) }

func TestBucketPolicyKeptByEdge(t *testing.T) {
	const policy = `{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	tests := []struct {
		name        string
		forward     bool
		wantPutCode string // error code of PutObject after the policy is set
	}{
		{"kept by the edge", false, ""},
		{"forwarded to moto, which ignores the condition", true, "Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEdge(t, Config{ForwardBucketPolicies: tt.forward})
			sc := s3.NewFromConfig(awsConfig(t, e.URL()), func(o *s3.Options) { o.UsePathStyle = true })
			ctx := context.Background()
			bucket := uniqueName(t, "pol")
			if _, err := sc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatal(err)
			}
			p := fmt.Sprintf(policy, bucket)
			if _, err := sc.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(p)}); err != nil {
				t.Fatal(err)
			}
			got, err := sc.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.forward && aws.ToString(got.Policy) != p {
				t.Fatalf("read back policy %q, want %q", aws.ToString(got.Policy), p)
			}
			_, err = sc.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: bytes.NewReader([]byte("v"))})
			if code := apiCode(err); code != tt.wantPutCode {
				t.Fatalf("PutObject error code %q (err %v), want %q", code, err, tt.wantPutCode)
			}
			if tt.forward {
				return
			}
			if _, err := sc.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatal(err)
			}
			if _, err := sc.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)}); apiCode(err) != "NoSuchBucketPolicy" {
				t.Fatalf("after delete: %v", err)
			}
		})
	}
}
