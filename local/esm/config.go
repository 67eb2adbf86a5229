package esm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// InvokeFunc invokes the mapped function with a Kinesis event and returns
// its response payload; an error is a function error.
type InvokeFunc func(ctx context.Context, payload []byte) ([]byte, error)

// KinesisAPI is what the poller needs from the Kinesis client.
type KinesisAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, optFns ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// SQSAPI is what an SQS on-failure destination needs.
type SQSAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// S3API is what an S3 on-failure destination needs.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var (
	_ KinesisAPI = (*kinesis.Client)(nil)
	_ SQSAPI     = (*sqs.Client)(nil)
	_ S3API      = (*s3.Client)(nil)
)

// Starting positions.
const (
	TrimHorizon = "TRIM_HORIZON"
	Latest      = "LATEST"
	AtTimestamp = "AT_TIMESTAMP"
)

// Config is one event source mapping. Defaults fills zero fields; the
// Lambda option names are kept so FromMapping is a plain copy.
type Config struct {
	// StreamARN is the EventSourceArn (arn:aws:kinesis:<region>:<account>:stream/<name>).
	StreamARN string
	// FunctionARN is the mapped function (for on-failure records).
	FunctionARN string
	// UUID is the mapping id (for on-failure records and S3 keys).
	UUID string
	// RoleARN is reported as invokeIdentityArn (default arn:aws:iam::<account>:role/lambda-role).
	RoleARN string
	// BatchSize is the largest batch (1-10000, default 100).
	BatchSize int
	// MaximumBatchingWindow is how long to gather records before invoking
	// with fewer than BatchSize (0-300s, default 0: invoke at once).
	MaximumBatchingWindow time.Duration
	// StartingPosition is TRIM_HORIZON (default), LATEST or AT_TIMESTAMP.
	// Shards that appear later (resharding) are read from TRIM_HORIZON.
	StartingPosition string
	// StartingPositionTimestamp is used with AT_TIMESTAMP.
	StartingPositionTimestamp time.Time
	// ReportBatchItemFailures enables partial batch responses
	// (FunctionResponseTypes ["ReportBatchItemFailures"]).
	ReportBatchItemFailures bool
	// BisectBatchOnFunctionError splits a failed batch in two and retries
	// each half; splitting does not use up retries.
	BisectBatchOnFunctionError bool
	// MaximumRetryAttempts bounds retries of a failing batch (-1 = infinite,
	// the Lambda default; 0-10000). Use NoRetries for 0.
	MaximumRetryAttempts int
	// NoRetries sets MaximumRetryAttempts to 0 (a zero field means the default -1).
	NoRetries bool
	// MaximumRecordAge skips older records to the on-failure destination
	// (0 = infinite, the Lambda default -1).
	MaximumRecordAge time.Duration
	// ParallelizationFactor (1-10) is how many batches of one shard are
	// invoked at once, split by partition key so that each key's records
	// stay in order (see the package doc).
	ParallelizationFactor int
	// OnFailure is the DestinationConfig.OnFailure ARN: an SQS queue
	// (arn:aws:sqs:...) or an S3 bucket (arn:aws:s3:::bucket); empty drops
	// discarded batches after logging them.
	OnFailure string
	// PollInterval is the wait after an empty GetRecords (default 1s, as Lambda).
	PollInterval time.Duration
	// RetryBackoff is the first wait before retrying a failed batch,
	// doubled up to 10s (default 100ms).
	RetryBackoff time.Duration
	// ShardRefresh is how often ListShards looks for new shards (default 10s).
	ShardRefresh time.Duration
	// Invoke calls the function. Required.
	Invoke InvokeFunc
	// Kinesis reads the stream. Required.
	Kinesis KinesisAPI
	// SQS and S3 deliver to OnFailure; the one the ARN names is required.
	SQS SQSAPI
	S3  S3API
	// Now is the clock for record ages and on-failure timestamps (default time.Now).
	Now func() time.Time
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// FromMapping copies the options of a GetEventSourceMapping answer into a
// Config; set Invoke, Kinesis and SQS/S3 before New.
func FromMapping(m *lambda.GetEventSourceMappingOutput) Config {
	cfg := Config{
		StreamARN:                  aws.ToString(m.EventSourceArn),
		FunctionARN:                aws.ToString(m.FunctionArn),
		UUID:                       aws.ToString(m.UUID),
		BatchSize:                  int(aws.ToInt32(m.BatchSize)),
		MaximumBatchingWindow:      time.Duration(aws.ToInt32(m.MaximumBatchingWindowInSeconds)) * time.Second,
		StartingPosition:           string(m.StartingPosition),
		StartingPositionTimestamp:  aws.ToTime(m.StartingPositionTimestamp),
		BisectBatchOnFunctionError: aws.ToBool(m.BisectBatchOnFunctionError),
		MaximumRetryAttempts:       -1,
		ParallelizationFactor:      int(aws.ToInt32(m.ParallelizationFactor)),
	}
	for _, t := range m.FunctionResponseTypes {
		if t == lambdatypes.FunctionResponseTypeReportBatchItemFailures {
			cfg.ReportBatchItemFailures = true
		}
	}
	if m.MaximumRetryAttempts != nil {
		cfg.MaximumRetryAttempts = int(*m.MaximumRetryAttempts)
		cfg.NoRetries = cfg.MaximumRetryAttempts == 0
	}
	if age := aws.ToInt32(m.MaximumRecordAgeInSeconds); age > 0 {
		cfg.MaximumRecordAge = time.Duration(age) * time.Second
	}
	if m.DestinationConfig != nil && m.DestinationConfig.OnFailure != nil {
		cfg.OnFailure = aws.ToString(m.DestinationConfig.OnFailure.Destination)
	}
	return cfg
}

// FromMappingConfiguration is FromMapping for an item of a
// ListEventSourceMappings answer.
func FromMappingConfiguration(m lambdatypes.EventSourceMappingConfiguration) Config {
	return FromMapping(&lambda.GetEventSourceMappingOutput{
		EventSourceArn:                 m.EventSourceArn,
		FunctionArn:                    m.FunctionArn,
		UUID:                           m.UUID,
		BatchSize:                      m.BatchSize,
		MaximumBatchingWindowInSeconds: m.MaximumBatchingWindowInSeconds,
		StartingPosition:               m.StartingPosition,
		StartingPositionTimestamp:      m.StartingPositionTimestamp,
		BisectBatchOnFunctionError:     m.BisectBatchOnFunctionError,
		FunctionResponseTypes:          m.FunctionResponseTypes,
		MaximumRetryAttempts:           m.MaximumRetryAttempts,
		MaximumRecordAgeInSeconds:      m.MaximumRecordAgeInSeconds,
		ParallelizationFactor:          m.ParallelizationFactor,
		DestinationConfig:              m.DestinationConfig,
	})
}

// Defaults returns cfg with every zero field set to its default.
func Defaults(cfg Config) Config {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 100
	}
	if cfg.StartingPosition == "" {
		cfg.StartingPosition = TrimHorizon
	}
	if cfg.MaximumRetryAttempts == 0 && !cfg.NoRetries {
		cfg.MaximumRetryAttempts = -1
	}
	if cfg.NoRetries {
		cfg.MaximumRetryAttempts = 0
	}
	if cfg.ParallelizationFactor == 0 {
		cfg.ParallelizationFactor = 1
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	if cfg.ShardRefresh == 0 {
		cfg.ShardRefresh = 10 * time.Second
	}
	if cfg.UUID == "" {
		cfg.UUID = "00000000-0000-0000-0000-000000000000"
	}
	region, account := arnRegionAccount(cfg.StreamARN)
	if cfg.RoleARN == "" {
		cfg.RoleARN = "arn:aws:iam::" + account + ":role/lambda-role"
	}
	if cfg.FunctionARN == "" {
		cfg.FunctionARN = "arn:aws:lambda:" + region + ":" + account + ":function:unknown"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Validate reports every problem in cfg at once.
func (cfg Config) Validate() error {
	var errs []error
	if _, err := streamName(cfg.StreamARN); err != nil {
		errs = append(errs, fmt.Errorf("stream_arn: %w", err))
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("batch_size: %d is outside 1..10000", cfg.BatchSize))
	}
	if cfg.MaximumBatchingWindow < 0 || cfg.MaximumBatchingWindow > 300*time.Second {
		errs = append(errs, fmt.Errorf("maximum_batching_window: %s is outside 0..300s", cfg.MaximumBatchingWindow))
	}
	switch cfg.StartingPosition {
	case TrimHorizon, Latest:
	case AtTimestamp:
		if cfg.StartingPositionTimestamp.IsZero() {
			errs = append(errs, errors.New("starting_position_timestamp: required with AT_TIMESTAMP"))
		}
	default:
		errs = append(errs, fmt.Errorf("starting_position: %q is not TRIM_HORIZON, LATEST or AT_TIMESTAMP", cfg.StartingPosition))
	}
	if cfg.MaximumRetryAttempts < -1 || cfg.MaximumRetryAttempts > 10000 {
		errs = append(errs, fmt.Errorf("maximum_retry_attempts: %d is outside -1..10000", cfg.MaximumRetryAttempts))
	}
	if cfg.MaximumRecordAge < 0 || cfg.MaximumRecordAge > 604800*time.Second {
		errs = append(errs, fmt.Errorf("maximum_record_age: %s is outside 0..604800s", cfg.MaximumRecordAge))
	}
	if cfg.ParallelizationFactor < 1 || cfg.ParallelizationFactor > 10 {
		errs = append(errs, fmt.Errorf("parallelization_factor: %d is outside 1..10", cfg.ParallelizationFactor))
	}
	switch {
	case cfg.OnFailure == "":
	case strings.HasPrefix(cfg.OnFailure, "arn:aws:sqs:"):
		if cfg.SQS == nil {
			errs = append(errs, errors.New("sqs: required for an SQS on-failure destination"))
		}
		if _, _, err := sqsQueue(cfg.OnFailure); err != nil {
			errs = append(errs, fmt.Errorf("on_failure: %w", err))
		}
	case strings.HasPrefix(cfg.OnFailure, "arn:aws:s3:::"):
		if cfg.S3 == nil {
			errs = append(errs, errors.New("s3: required for an S3 on-failure destination"))
		}
	default:
		errs = append(errs, fmt.Errorf("on_failure: %q is not an SQS queue or S3 bucket ARN", cfg.OnFailure))
	}
	if cfg.PollInterval <= 0 || cfg.RetryBackoff <= 0 || cfg.ShardRefresh <= 0 {
		errs = append(errs, errors.New("poll_interval, retry_backoff, shard_refresh: must be positive"))
	}
	if cfg.Invoke == nil {
		errs = append(errs, errors.New("invoke: required"))
	}
	if cfg.Kinesis == nil {
		errs = append(errs, errors.New("kinesis: required"))
	}
	return errors.Join(errs...)
}

// streamName returns the stream name of arn:aws:kinesis:<region>:<account>:stream/<name>.
func streamName(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kinesis" || !strings.HasPrefix(parts[5], "stream/") || len(parts[5]) == len("stream/") {
		return "", fmt.Errorf("%q is not a Kinesis stream ARN", arn)
	}
	return strings.TrimPrefix(parts[5], "stream/"), nil
}

func arnRegionAccount(arn string) (region, account string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 {
		region, account = parts[3], parts[4]
	}
	if region == "" {
		region = "us-east-1"
	}
	if account == "" {
		account = "000000000000"
	}
	return region, account
}

// sqsQueue returns the queue name and owner account of an SQS queue ARN.
func sqsQueue(arn string) (name, account string, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[5] == "" {
		return "", "", fmt.Errorf("%q is not an SQS queue ARN", arn)
	}
	return parts[5], parts[4], nil
}
