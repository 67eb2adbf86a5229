package awsconf

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
)

func TestDynamoDBRetryConflicts(t *testing.T) {
	var o dynamodb.Options
	DynamoDBRetryConflicts(&o)
	cases := []struct {
		code string
		want bool
	}{
		{"TransactionConflictException", true},
		{"ThrottlingException", true},
		{"ConditionalCheckFailedException", false},
		{"ValidationException", false},
	}
	for _, c := range cases {
		if got := o.Retryer.IsErrorRetryable(&smithy.GenericAPIError{Code: c.code}); got != c.want {
			t.Errorf("%s retryable = %v, want %v", c.code, got, c.want)
		}
	}
}

func TestConflictBackoff(t *testing.T) {
	for attempt := range 20 {
		full := min(20*time.Millisecond<<min(attempt, 10), time.Second)
		for range 50 {
			if d := ConflictBackoff(attempt); d < full/2 || d > full {
				t.Fatalf("attempt %d: %s outside [%s, %s]", attempt, d, full/2, full)
			}
		}
	}
}
