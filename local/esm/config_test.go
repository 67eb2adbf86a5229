package esm

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func TestFromMapping(t *testing.T) {
	m := lambdatypes.EventSourceMappingConfiguration{
		EventSourceArn:                 aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/sp-events"),
		FunctionArn:                    aws.String("arn:aws:lambda:us-east-1:000000000000:function:sp-fanout"),
		UUID:                           aws.String("u-1"),
		BatchSize:                      aws.Int32(500),
		MaximumBatchingWindowInSeconds: aws.Int32(2),
		StartingPosition:               lambdatypes.EventSourcePositionTrimHorizon,
		BisectBatchOnFunctionError:     aws.Bool(true),
		FunctionResponseTypes:          []lambdatypes.FunctionResponseType{lambdatypes.FunctionResponseTypeReportBatchItemFailures},
		MaximumRetryAttempts:           aws.Int32(0),
		MaximumRecordAgeInSeconds:      aws.Int32(-1),
		ParallelizationFactor:          aws.Int32(2),
		DestinationConfig: &lambdatypes.DestinationConfig{OnFailure: &lambdatypes.OnFailure{
			Destination: aws.String("arn:aws:sqs:us-east-1:000000000000:sp-dlq"),
		}},
	}
	cfg := Defaults(FromMappingConfiguration(m))
	if cfg.StreamARN != aws.ToString(m.EventSourceArn) || cfg.BatchSize != 500 || cfg.MaximumBatchingWindow != 2*time.Second ||
		cfg.StartingPosition != TrimHorizon || !cfg.BisectBatchOnFunctionError || !cfg.ReportBatchItemFailures ||
		cfg.MaximumRetryAttempts != 0 || cfg.MaximumRecordAge != 0 || cfg.ParallelizationFactor != 2 ||
		cfg.OnFailure != "arn:aws:sqs:us-east-1:000000000000:sp-dlq" || cfg.UUID != "u-1" {
		t.Fatalf("config %+v", cfg)
	}
	m.MaximumRetryAttempts = nil
	if cfg := Defaults(FromMappingConfiguration(m)); cfg.MaximumRetryAttempts != -1 {
		t.Fatalf("absent MaximumRetryAttempts = %d, want -1", cfg.MaximumRetryAttempts)
	}
}

func TestConfigValidate(t *testing.T) {
	invoke := func(context.Context, []byte) ([]byte, error) { return nil, nil }
	ok := Config{StreamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/s", Invoke: invoke, Kinesis: &kinesis.Client{}}
	tests := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{name: "ok", mod: func(*Config) {}},
		{name: "missing everything", mod: func(c *Config) { *c = Config{} }, want: []string{"stream_arn", "invoke", "kinesis"}},
		{name: "ranges", mod: func(c *Config) {
			c.BatchSize, c.MaximumRetryAttempts, c.ParallelizationFactor, c.StartingPosition = 20000, -2, 11, "SOMETIME"
		}, want: []string{"batch_size", "maximum_retry_attempts", "parallelization_factor", "starting_position"}},
		{name: "at timestamp needs a time", mod: func(c *Config) { c.StartingPosition = AtTimestamp }, want: []string{"starting_position_timestamp"}},
		{name: "sqs destination needs a client", mod: func(c *Config) { c.OnFailure = "arn:aws:sqs:us-east-1:000000000000:q" }, want: []string{"sqs: required"}},
		{name: "s3 destination needs a client", mod: func(c *Config) { c.OnFailure = "arn:aws:s3:::b" }, want: []string{"s3: required"}},
		{name: "sns is not supported", mod: func(c *Config) { c.OnFailure = "arn:aws:sns:us-east-1:000000000000:t" }, want: []string{"on_failure"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			err := Defaults(cfg).Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func BenchmarkBuildEvent(b *testing.B) {
	p, err := New(Config{StreamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/s",
		Invoke: func(context.Context, []byte) ([]byte, error) { return nil, nil }, Kinesis: &kinesis.Client{}})
	if err != nil {
		b.Fatal(err)
	}
	recs := records(make([]string, 100)...)
	data := make([]byte, 4096)
	for i := range recs {
		recs[i].Data = data
		recs[i].SequenceNumber = aws.String("49590338271490256608559692538361571095921575989136588898")
		recs[i].ApproximateArrivalTimestamp = aws.Time(time.Unix(1700000000, 0))
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(recs) * len(data)))
	for b.Loop() {
		if _, err := json.Marshal(p.BuildEvent("shardId-000000000000", recs)); err != nil {
			b.Fatal(err)
		}
	}
}
