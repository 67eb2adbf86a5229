// Package awsconf builds the one aws.Config every Spillway process uses.
//
// Endpoints come from the SDK's standard AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> variables; nothing here hard-codes a host.
package awsconf

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
