// Package dep is a fixture: an interface embedded across packages.
package dep

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ObjectsAPI reads objects.
type ObjectsAPI interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}
