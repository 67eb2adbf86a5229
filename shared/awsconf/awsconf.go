// Package awsconf builds the one aws.Config every Spillway process uses.
//
// Endpoints come from the SDK's standard AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> variables; nothing here hard-codes a host.
package awsconf

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/shared/backoff"
)

// Load returns the default AWS configuration with a buildable HTTP client
// (which keeps AWS_CA_BUNDLE working) and the region defaulted to us-east-1
// when none is configured.
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts = append([]func(*config.LoadOptions) error{config.WithHTTPClient(awshttp.NewBuildableClient())}, opts...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// S3PathStyle is an s3.Options function that selects path-style addressing
// when an endpoint override is configured (emulators need it; AWS does not).
func S3PathStyle(o *s3.Options) {
	if os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != "" {
		o.UsePathStyle = true
	}
}

// DynamoDBRetryConflicts is a dynamodb.Options function that makes the
// client retry TransactionConflictException (a single-item write on an item
// an in-flight transaction holds), which the SDK's standard retryer does
// not: on DynamoDB it is transient, like a throttle.
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling
func DynamoDBRetryConflicts(o *dynamodb.Options) {
	base := o.Retryer
	if base == nil {
		base = retry.NewStandard()
	}
	o.Retryer = retry.AddWithErrorCodes(base, "TransactionConflictException")
}

// ConflictAttempts is how many times a transaction that lost a race with
// another one (TransactionConflict) is tried before the caller gives up.
const ConflictAttempts = 8

// ConflictBackoff is the wait before retry attempt (0-based) of a
// transaction that lost a race: 20 ms doubling, at most 1 s, with "equal
// jitter" (half fixed, half random) so that racing writers spread out.
// https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/
func ConflictBackoff(attempt int) time.Duration {
	return backoff.Equal(20*time.Millisecond, time.Second, attempt)
}
