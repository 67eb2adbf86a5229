package replay

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spillwayhq/spillway/shared/kinesisput"
)

// S3API is the part of the S3 client a replay needs.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// KinesisAPI is the part of the Kinesis client a replay needs.
type KinesisAPI interface {
	kinesisput.PutRecordsAPI
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, optFns ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// SQSAPI is the part of the SQS client the on-failure replay needs.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// SecretsAPI is the part of the Secrets Manager client the failed/ replay
// needs (the TD API keys).
type SecretsAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var (
	_ S3API      = (*s3.Client)(nil)
	_ KinesisAPI = (*kinesis.Client)(nil)
	_ SQSAPI     = (*sqs.Client)(nil)
	_ SecretsAPI = (*secretsmanager.Client)(nil)
)

// maxObjectBytes bounds what a replay reads of one object: quarantined
// documents hold one Kinesis record (1 MiB, base64 in JSON), future and
// sealed objects are TD import bodies.
const maxObjectBytes = 512 << 20

// list calls fn for every key under prefix, in key order.
func (r *Replayer) list(ctx context.Context, prefix string, fn func(key string) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(r.cfg.Bucket), Prefix: aws.String(prefix)}
	for p := s3.NewListObjectsV2Paginator(r.c.S3, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", r.cfg.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(aws.ToString(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}

// get reads one object.
func (r *Replayer) get(ctx context.Context, key string) ([]byte, error) {
	out, err := r.c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", r.cfg.Bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxObjectBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", r.cfg.Bucket, key, err)
	}
	if len(b) > maxObjectBytes {
		return nil, fmt.Errorf("s3://%s/%s is larger than %d bytes", r.cfg.Bucket, key, maxObjectBytes)
	}
	return b, nil
}

// remove deletes one object (after what it held was put back).
func (r *Replayer) remove(ctx context.Context, key string) error {
	if _, err := r.c.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(r.cfg.Bucket), Key: aws.String(key)}); err != nil {
		return fmt.Errorf("delete s3://%s/%s: %w", r.cfg.Bucket, key, err)
	}
	return nil
}
