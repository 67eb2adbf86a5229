package cloud

import (
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// awsHTTPClient keeps AWS_CA_BUNDLE working (see EMULATORS.md).
func awsHTTPClient() *awshttp.BuildableClient { return awshttp.NewBuildableClient() }
