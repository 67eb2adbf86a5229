// Package fn is a fixture: a function declaring its AWS calls.
package fn

import (
	"context"

	"example.com/fixture/dep"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

type putAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

type s3API interface {
	dep.ObjectsAPI
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

type invokeAPI interface {
	Invoke(ctx context.Context, in *awslambda.InvokeInput, opts ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error)
}

var (
	_ putAPI    = (*kinesis.Client)(nil)
	_ s3API     = (*s3.Client)(nil)
	_ invokeAPI = (*awslambda.Client)(nil)
)
