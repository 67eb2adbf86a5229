// Package replay owns putting what the pipeline parked back into it, each
// source idempotently (a second replay changes nothing) and each with a dry
// run: quarantined Kinesis records and far-future events (fanout), refused TD
// imports (flush) and the on-failure pointers of the fanout event source
// mapping. See docs/OPERATIONS.md.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/spillwayhq/spillway/functions/fanout"
)

// Source names, as spillway replay takes them.
const (
	SourceRecords   = "records"    // quarantine/records/: undecodable or unstorable Kinesis records
	SourceFuture    = "future"     // quarantine/future/: events beyond the future limit
	SourceFailed    = "failed"     // failed/: TD imports refused for good
	SourceOnFailure = "on-failure" // the fanout ESM's on-failure queue
)

// Sources lists every source in the order they are replayed by "all":
// on-failure pointers first (their records expire with the stream).
var Sources = []string{SourceOnFailure, SourceRecords, SourceFuture, SourceFailed}

// Config is what one replay run needs. Each source checks only the fields
// it uses (Validate).
type Config struct {
	Bucket   string // S3 bucket (records, future, failed)
	Stream   string // Kinesis stream name (records, future; on-failure: default the stream the pointer names)
	QueueURL string // on-failure SQS queue URL (on-failure)
	// TDSecret is the Secrets Manager id of the JSON object
	// {"<endpoint url>": "<apikey>"} flush reads (failed).
	TDSecret string
	// DryRun reads and reports what would be done and changes nothing.
	DryRun bool
	// Force replays future objects whose events are still beyond
	// FutureLimit, and quarantined records that are not Spillway envelopes.
	Force bool
	// FutureLimit is fanout's limit (SPILLWAY_FUTURE_LIMIT): an object is
	// replayed once its last event is no later than now + FutureLimit.
	FutureLimit time.Duration
	// DeleteExpired deletes on-failure messages whose records the stream no
	// longer holds (after reporting them); by default they stay queued.
	DeleteExpired bool
	// VisibilityTimeout hides a received on-failure message from other readers
	// while it is replayed.
	VisibilityTimeout time.Duration
	// PollWait is the SQS long-poll wait of each receive; a receive that
	// returns nothing after it ends the on-failure replay.
	PollWait time.Duration
}

// DefaultConfig returns fanout's default future limit, a 5-minute
// visibility timeout and a 1-second poll wait.
func DefaultConfig() Config {
	return Config{FutureLimit: fanout.DefaultConfig().FutureLimit, VisibilityTimeout: 5 * time.Minute, PollWait: time.Second}
}

// Validate reports every field source needs that is missing or invalid.
func (c Config) Validate(source string) error {
	var errs []error
	need := func(v, field string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: required by %s", field, source))
		}
	}
	switch source {
	case SourceRecords:
		need(c.Bucket, "Bucket")
	case SourceFuture:
		need(c.Bucket, "Bucket")
		need(c.Stream, "Stream")
	case SourceFailed:
		need(c.Bucket, "Bucket")
		need(c.TDSecret, "TDSecret")
	case SourceOnFailure:
		need(c.QueueURL, "QueueURL")
	default:
		errs = append(errs, fmt.Errorf("source: unknown %q", source))
	}
	if c.FutureLimit <= 0 {
		errs = append(errs, fmt.Errorf("FutureLimit: must be positive, got %s", c.FutureLimit))
	}
	if c.VisibilityTimeout < time.Second || c.VisibilityTimeout > 12*time.Hour {
		errs = append(errs, fmt.Errorf("VisibilityTimeout: must be 1s to 12h, got %s", c.VisibilityTimeout))
	}
	if c.PollWait < 0 || c.PollWait > 20*time.Second {
		errs = append(errs, fmt.Errorf("PollWait: must be 0 to 20s, got %s", c.PollWait))
	}
	return errors.Join(errs...)
}

// Clients are the AWS and HTTP clients a replay uses; a source needs only
// some of them.
type Clients struct {
	S3      S3API
	Kinesis KinesisAPI
	SQS     SQSAPI
	Secrets SecretsAPI
	HTTP    *http.Client // TD imports; nil = http.DefaultClient
}

// Replayer runs replays and reports each item on its output.
type Replayer struct {
	cfg Config
	c   Clients
	out io.Writer
	log *slog.Logger
	now func() time.Time
}

// Option configures a Replayer.
type Option func(*Replayer)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(r *Replayer) { r.now = now } }

// WithLogger sets the JSON logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(r *Replayer) { r.log = l } }

// New returns a Replayer that reports on out.
func New(cfg Config, c Clients, out io.Writer, opts ...Option) *Replayer {
	r := &Replayer{cfg: cfg, c: c, out: out, log: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Result counts what one source's replay found and did.
type Result struct {
	Source   string
	Found    int // items found (objects or messages)
	Replayed int // items put back (dry run: that would be)
	Left     int // items left in place: failed or not replayable (each reported)
	Waiting  int // future: objects not due yet (left, not a failure)
	Missing  int // on-failure: records the stream no longer holds
}

// Run replays source.
func (r *Replayer) Run(ctx context.Context, source string) (Result, error) {
	if err := r.cfg.Validate(source); err != nil {
		return Result{Source: source}, err
	}
	switch source {
	case SourceRecords:
		return r.Records(ctx)
	case SourceFuture:
		return r.Future(ctx)
	case SourceFailed:
		return r.Failed(ctx)
	default:
		return r.OnFailure(ctx)
	}
}

// verb is what the report says for an action: "would <v>" in a dry run.
func (r *Replayer) verb(v string) string {
	if r.cfg.DryRun {
		return "would " + v
	}
	return v
}

// say prints one report line.
func (r *Replayer) say(format string, args ...any) { fmt.Fprintf(r.out, format+"\n", args...) }
