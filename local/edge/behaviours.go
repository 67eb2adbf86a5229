package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// AWS's numbers for the behaviours the edge reproduces (local/README.md,
// "AWS behaviours", cites the documentation of each).
const (
	// DynamoDBMaxItemBytes is DynamoDB's item size limit, 400 KB.
	DynamoDBMaxItemBytes = 400 * 1024
	// DynamoDBMaxPartitionKeyBytes is the longest partition key value.
	DynamoDBMaxPartitionKeyBytes = 2048
	// DynamoDBMaxSortKeyBytes is the longest sort key value.
	DynamoDBMaxSortKeyBytes = 1024
	// DynamoDBMaxTransactionActions is the most actions in one
	// TransactWriteItems.
	DynamoDBMaxTransactionActions = 100
	// DynamoDBMaxTransactionBytes is the aggregate item size limit of one
	// TransactWriteItems, 4 MB.
	DynamoDBMaxTransactionBytes = 4 * 1024 * 1024
	// S3MaxKeyBytes is the longest S3 object key (UTF-8 bytes).
	S3MaxKeyBytes = 1024
	// S3WritesPerSecond is S3's PUT/COPY/POST/DELETE rate per prefix.
	S3WritesPerSecond = 3500
	// S3ReadsPerSecond is S3's GET/HEAD rate per prefix.
	S3ReadsPerSecond = 5500
	// KinesisShardRecordsPerSecond is a shard's write limit in records.
	KinesisShardRecordsPerSecond = 1000
	// KinesisShardBytesPerSecond is a shard's write limit in bytes (data plus
	// partition key), 1 MiB.
	KinesisShardBytesPerSecond = 1 << 20
)

// AWSBehaviours selects the AWS behaviours the edge reproduces because the
// emulators behind it lack them. They are not faults: the zero value is AWS,
// every behaviour on with AWS's numbers. Tests switch one off, or lower a
// rate, with Config.AWS or Server.SetAWSBehaviours.
type AWSBehaviours struct {
	// NoTransactionConflicts stops the edge from cancelling DynamoDB
	// transactions (and failing single-item writes) that touch an item held
	// by another in-flight transaction.
	NoTransactionConflicts bool `json:"no_transaction_conflicts,omitempty"`
	// NoDynamoDBLimits stops the edge from enforcing DynamoDB's item size,
	// key size and transaction size limits.
	NoDynamoDBLimits bool `json:"no_dynamodb_limits,omitempty"`
	// NoS3KeyLimit stops the edge from answering KeyTooLongError.
	NoS3KeyLimit bool `json:"no_s3_key_limit,omitempty"`
	// NoS3SlowDown stops the edge from answering SlowDown when a prefix
	// exceeds its request rate.
	NoS3SlowDown bool `json:"no_s3_slow_down,omitempty"`
	// S3WritesPerSecond is the PUT/COPY/POST/DELETE rate per prefix; 0 means
	// S3WritesPerSecond (3,500).
	S3WritesPerSecond int `json:"s3_writes_per_second,omitempty"`
	// S3ReadsPerSecond is the GET/HEAD rate per prefix; 0 means
	// S3ReadsPerSecond (5,500).
	S3ReadsPerSecond int `json:"s3_reads_per_second,omitempty"`
	// NoKinesisShardLimits stops the edge from failing Kinesis writes over a
	// shard's per-second limits.
	NoKinesisShardLimits bool `json:"no_kinesis_shard_limits,omitempty"`
	// KinesisShardRecordsPerSecond is a shard's write limit in records; 0
	// means KinesisShardRecordsPerSecond (1,000).
	KinesisShardRecordsPerSecond int `json:"kinesis_shard_records_per_second,omitempty"`
	// KinesisShardBytesPerSecond is a shard's write limit in bytes; 0 means
	// KinesisShardBytesPerSecond (1 MiB).
	KinesisShardBytesPerSecond int `json:"kinesis_shard_bytes_per_second,omitempty"`
	// Now is the clock of the per-second limits; nil means time.Now. Tests
	// inject a clock instead of waiting.
	Now func() time.Time `json:"-"`
}

// Validate reports every problem with the behaviours.
func (b AWSBehaviours) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"S3WritesPerSecond", b.S3WritesPerSecond},
		{"S3ReadsPerSecond", b.S3ReadsPerSecond},
		{"KinesisShardRecordsPerSecond", b.KinesisShardRecordsPerSecond},
		{"KinesisShardBytesPerSecond", b.KinesisShardBytesPerSecond},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %d is negative (0 means AWS's number)", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// withDefaults fills AWS's numbers where b leaves 0.
func (b AWSBehaviours) withDefaults() AWSBehaviours {
	or := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	b.S3WritesPerSecond = or(b.S3WritesPerSecond, S3WritesPerSecond)
	b.S3ReadsPerSecond = or(b.S3ReadsPerSecond, S3ReadsPerSecond)
	b.KinesisShardRecordsPerSecond = or(b.KinesisShardRecordsPerSecond, KinesisShardRecordsPerSecond)
	b.KinesisShardBytesPerSecond = or(b.KinesisShardBytesPerSecond, KinesisShardBytesPerSecond)
	if b.Now == nil {
		b.Now = time.Now
	}
	return b
}

// SetAWSBehaviours replaces the AWS behaviours at run time (rate windows
// restart).
func (s *Server) SetAWSBehaviours(b AWSBehaviours) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("invalid AWS behaviours: %w", err)
	}
	s.behMu.Lock()
	defer s.behMu.Unlock()
	s.beh = b.withDefaults()
	s.s3Rate.reset()
	s.shardRate.reset()
	return nil
}

// AWSBehaviours returns the AWS behaviours in force, AWS's numbers filled in.
func (s *Server) AWSBehaviours() AWSBehaviours {
	s.behMu.RLock()
	defer s.behMu.RUnlock()
	return s.beh
}

// serveAWSControl answers /_spillway/aws: GET the behaviours in force, POST
// or PUT new ones (JSON, unknown keys are errors), DELETE restores AWS's.
func (s *Server) serveAWSControl(w http.ResponseWriter, r *http.Request, writeJSON func(int, any)) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost, http.MethodPut:
		var b AWSBehaviours
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			writeJSON(http.StatusBadRequest, map[string]string{"error": "decode AWS behaviours: " + err.Error()})
			return
		}
		if err := s.SetAWSBehaviours(b); err != nil {
			writeJSON(http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
	case http.MethodDelete:
		_ = s.SetAWSBehaviours(AWSBehaviours{})
	default:
		writeJSON(http.StatusMethodNotAllowed, map[string]string{"error": "use GET, POST or DELETE"})
		return
	}
	writeJSON(http.StatusOK, s.AWSBehaviours())
}
