package esm

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

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

// uniqueName is a resource name unique to this test run: tests share one
// moto server and may run more than once (-count).
func uniqueName(tb testing.TB) string {
	tb.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "-", " ", "-", "_", "-").Replace(tb.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return name + "-" + hex.EncodeToString(b[:])
}
