package fn

import "github.com/aws/aws-sdk-go-v2/service/sqs"

// Test files are not analysed: this call must not be reported (the
// non-test SendMessage in main.go is).
type sendAPI interface{ SendMessage() }

var _ sendAPI = (*sqs.Client)(nil)
