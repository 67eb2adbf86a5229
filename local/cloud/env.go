package cloud

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// ESMAccessKey is the access key the event source mapping poller signs
// with; the functions and Cloud.AWS use "test".
const ESMAccessKey = "spillway-esm"

// Env returns the variables a shell needs to reach the local cloud.
func (c *Cloud) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + c.EdgeURL,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=us-east-1",
		"SPILLWAY_API_URL=" + c.APIURL,
		"SPILLWAY_REST_API_URL=" + c.RESTURL,
		"SPILLWAY_API_KEY=" + c.APIKey,
		"SPILLWAY_TD_RECEIVER_URL=" + c.TDURL,
		"SPILLWAY_TD_RECEIVER_KEY=" + c.TDAPIKey,
		"SPILLWAY_BUCKET=" + c.Outputs.Bucket,
		"SPILLWAY_CATALOG_TABLE=" + c.Outputs.CatalogTable,
		"SPILLWAY_STREAM_NAME=" + c.Outputs.StreamName,
	}
}

// AWSConfig is an aws.Config that reaches the edge at url with the local
// test credentials.
func AWSConfig(ctx context.Context, url string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(url),
		config.WithHTTPClient(awsHTTPClient()),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return cfg, nil
}
