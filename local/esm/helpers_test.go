package esm

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

type sqsAttr = sqstypes.QueueAttributeName

// records builds Kinesis records with the given sequence numbers.
func records(seqs ...string) []ktypes.Record {
	out := make([]ktypes.Record, len(seqs))
	for i, s := range seqs {
		out[i] = ktypes.Record{SequenceNumber: aws.String(s), PartitionKey: aws.String("pk"), Data: []byte(s)}
	}
	return out
}
