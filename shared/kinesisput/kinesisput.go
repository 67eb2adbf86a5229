// Package kinesisput owns writing a set of records to a Kinesis stream with
// PutRecords: batching within the API's limits, retrying only the entries
// that failed with jittered exponential backoff until the context ends, and
// classifying what could not be written (throttled, incomplete, permanent).
package kinesisput

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/spillwayhq/spillway/shared/backoff"
)

// PutRecords API limits.
const (
	MaxBatchRecords = 500     // records per PutRecords call
	MaxBatchBytes   = 5 << 20 // data plus partition keys per PutRecords call
	MaxRecordBytes  = 1 << 20 // data plus partition key of one record
	MaxPartitionKey = 256     // characters of a partition key
)

// PutRecordsAPI is the part of the Kinesis client Put needs.
type PutRecordsAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

var _ PutRecordsAPI = (*kinesis.Client)(nil)

// Sentinel errors wrapped by Put's errors.
var (
	// ErrIncomplete means some records were still not written when the
	// context ended or the attempts ran out; every one may be retried.
	ErrIncomplete = errors.New("kinesis put incomplete")
	// ErrThrottled is wrapped together with ErrIncomplete when the last
	// failures were throttling (ProvisionedThroughputExceeded, LimitExceeded,
	// KMSThrottling): the caller should answer 429 rather than 503.
	ErrThrottled = errors.New("kinesis throttled")
	// ErrTooLarge means an entry exceeds MaxRecordBytes or its partition key
	// exceeds MaxPartitionKey; nothing was written.
	ErrTooLarge = errors.New("kinesis record too large")
)

// PermanentError is a failure that retrying cannot fix (missing stream,
// access denied, invalid argument). Some records may have been written.
type PermanentError struct {
	Code string // AWS error code, e.g. ResourceNotFoundException
	Err  error
}

// Error describes the failure with its AWS code.
func (e *PermanentError) Error() string {
	return "permanent kinesis error " + e.Code + ": " + e.Err.Error()
}

// Unwrap returns the underlying SDK or per-record error.
func (e *PermanentError) Unwrap() error { return e.Err }

// Options tunes Put. The zero value means the defaults (DefaultOptions).
type Options struct {
	BaseDelay   time.Duration // first backoff delay
	MaxDelay    time.Duration // cap on one backoff delay
	MaxAttempts int           // rounds of PutRecords when the context has no deadline
	// Sleep waits d or until ctx ends; tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock compared with the context deadline; tests inject it.
	Now func() time.Time
	// Jitter returns a number in [0,1); tests inject it.
	Jitter func() float64
}

// DefaultOptions returns the defaults: 50ms base delay, 2s cap, 10 rounds
// without a deadline, real clock.
func DefaultOptions() Options {
	return Options{
		BaseDelay:   50 * time.Millisecond,
		MaxDelay:    2 * time.Second,
		MaxAttempts: 10,
		Sleep:       backoff.Sleep,
		Now:         time.Now,
		Jitter:      rand.Float64,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.BaseDelay <= 0 {
		o.BaseDelay = d.BaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = d.MaxDelay
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = d.MaxAttempts
	}
	if o.Sleep == nil {
		o.Sleep = d.Sleep
	}
	if o.Now == nil {
		o.Now = d.Now
	}
	if o.Jitter == nil {
		o.Jitter = d.Jitter
	}
	return o
}

// Stats describes what one Put did.
type Stats struct {
	Records   int // entries written
	Calls     int // PutRecords calls made
	Rounds    int // retry rounds (1 = no retry)
	Retried   int // entry writes repeated after a failure
	Throttled int // entry failures due to throttling
}

// Put writes every entry to stream with default options. See PutWith.
func Put(ctx context.Context, client PutRecordsAPI, stream string, entries []types.PutRecordsRequestEntry) (Stats, error) {
	return PutWith(ctx, client, stream, entries, Options{})
}

// PutWith writes every entry to stream, at most MaxBatchRecords and
// MaxBatchBytes per call, retrying failed entries (per-record errors and
// retryable call errors) with full-jitter exponential backoff. It stops early
// when the next wait would pass the context deadline. The error wraps
// ErrIncomplete (and ErrThrottled when throttling was the last cause),
// ErrTooLarge, or is a *PermanentError.
func PutWith(ctx context.Context, client PutRecordsAPI, stream string, entries []types.PutRecordsRequestEntry, o Options) (Stats, error) {
	o = o.withDefaults()
	var st Stats
	for i, e := range entries {
		if n := len(e.Data) + len(aws.ToString(e.PartitionKey)); n > MaxRecordBytes {
			return st, fmt.Errorf("entry %d is %d bytes, limit %d: %w", i, n, MaxRecordBytes, ErrTooLarge)
		}
		if len(aws.ToString(e.PartitionKey)) > MaxPartitionKey || aws.ToString(e.PartitionKey) == "" {
			return st, fmt.Errorf("entry %d partition key length %d not in 1..%d: %w", i, len(aws.ToString(e.PartitionKey)), MaxPartitionKey, ErrTooLarge)
		}
	}
	pending := entries
	_, hasDeadline := ctx.Deadline()
	for round := 0; ; round++ {
		st.Rounds++
		var failed []types.PutRecordsRequestEntry
		throttled := false
		var lastErr error
		for _, batch := range Batches(pending) {
			st.Calls++
			out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: batch})
			if err != nil {
				if perm := permanent(err); perm != nil {
					return st, fmt.Errorf("put %d records to %s: %w", len(batch), stream, perm)
				}
				if isThrottle(err) {
					throttled = true
					st.Throttled += len(batch)
				}
				lastErr = err
				failed = append(failed, batch...)
				if ctx.Err() != nil {
					st.Retried += len(failed)
					return st, fmt.Errorf("put to %s: %d of %d records not written: %w", stream, len(entries)-st.Records, len(entries), errors.Join(ErrIncomplete, err))
				}
				continue
			}
			if len(out.Records) != len(batch) {
				return st, fmt.Errorf("put %d records to %s: %w", len(batch), stream, &PermanentError{Code: "ResultMismatch", Err: fmt.Errorf("got %d results", len(out.Records))})
			}
			for i, r := range out.Records {
				code := aws.ToString(r.ErrorCode)
				if code == "" {
					st.Records++
					continue
				}
				switch code {
				case "ProvisionedThroughputExceededException", "KMSThrottlingException", "LimitExceededException":
					throttled = true
					st.Throttled++
				case "InternalFailure", "InternalFailureException", "ServiceUnavailable":
				default:
					return st, fmt.Errorf("put record to %s: %w", stream, &PermanentError{Code: code, Err: errors.New(aws.ToString(r.ErrorMessage))})
				}
				lastErr = fmt.Errorf("%s: %s", code, aws.ToString(r.ErrorMessage))
				failed = append(failed, batch[i])
			}
		}
		if len(failed) == 0 {
			return st, nil
		}
		st.Retried += len(failed)
		pending = failed
		incomplete := func(cause error) error {
			errs := []error{ErrIncomplete}
			if throttled {
				errs = append(errs, ErrThrottled)
			}
			errs = append(errs, cause)
			return fmt.Errorf("put to %s: %d of %d records not written after %d rounds: %w", stream, len(entries)-st.Records, len(entries), st.Rounds, errors.Join(errs...))
		}
		if !hasDeadline && round+1 >= o.MaxAttempts {
			return st, incomplete(lastErr)
		}
		delay := retryDelay(o, round)
		if dl, ok := ctx.Deadline(); ok && o.Now().Add(delay).After(dl) {
			return st, incomplete(errors.Join(lastErr, context.DeadlineExceeded))
		}
		if err := o.Sleep(ctx, delay); err != nil {
			return st, incomplete(errors.Join(lastErr, err))
		}
	}
}

// Batches splits entries into groups of at most MaxBatchRecords records and
// MaxBatchBytes bytes (data plus partition key), keeping their order.
func Batches(entries []types.PutRecordsRequestEntry) [][]types.PutRecordsRequestEntry {
	var out [][]types.PutRecordsRequestEntry
	start, size := 0, 0
	for i, e := range entries {
		n := len(e.Data) + len(aws.ToString(e.PartitionKey))
		if i > start && (i-start >= MaxBatchRecords || size+n > MaxBatchBytes) {
			out = append(out, entries[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(entries) {
		out = append(out, entries[start:])
	}
	return out
}

// retryDelay is equal-jitter exponential: uniform in [d/2, d) with d = base*2^round, capped.
func retryDelay(o Options, round int) time.Duration {
	d := o.BaseDelay
	for i := 0; i < round && d < o.MaxDelay; i++ {
		d *= 2
	}
	if d > o.MaxDelay {
		d = o.MaxDelay
	}
	return d/2 + time.Duration(o.Jitter()*float64(d/2))
}

// permanent returns a *PermanentError for call errors retrying cannot fix.
func permanent(err error) *PermanentError {
	var (
		notFound *types.ResourceNotFoundException
		invalid  *types.InvalidArgumentException
		denied   *types.AccessDeniedException
		valid    *types.ValidationException
		kmsDen   *types.KMSAccessDeniedException
		kmsDis   *types.KMSDisabledException
		kmsNF    *types.KMSNotFoundException
		kmsInv   *types.KMSInvalidStateException
	)
	switch {
	case errors.As(err, &notFound), errors.As(err, &invalid), errors.As(err, &denied), errors.As(err, &valid),
		errors.As(err, &kmsDen), errors.As(err, &kmsDis), errors.As(err, &kmsNF), errors.As(err, &kmsInv):
		var ae smithy.APIError
		errors.As(err, &ae)
		return &PermanentError{Code: ae.ErrorCode(), Err: err}
	}
	return nil
}

func isThrottle(err error) bool {
	var (
		pt  *types.ProvisionedThroughputExceededException
		le  *types.LimitExceededException
		kt  *types.KMSThrottlingException
		api smithy.APIError
	)
	if errors.As(err, &pt) || errors.As(err, &le) || errors.As(err, &kt) {
		return true
	}
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown":
			return true
		}
	}
	return false
}
