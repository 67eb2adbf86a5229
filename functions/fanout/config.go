package fanout

import (
	"github.com/spillwayhq/spillway/shared/envelope"

	"errors"
	"fmt"
	"time"
)

// Config is the typed configuration of the fanout handler.
type Config struct {
	Bucket        string        // S3 bucket for staged, late and quarantine objects
	CatalogTable  string        // DynamoDB catalog table (db, table)
	LedgerTable   string        // DynamoDB dedup ledger (id, TTL on expires_at)
	ManifestTable string        // DynamoDB manifests table (staged-object items, sealed-hour markers)
	AutoCreate    bool          // create catalog databases and tables on first write
	LedgerTTL     time.Duration // lifetime of a ledger entry
	LateWindow    time.Duration // how long after an hour ends it may still receive staged events (informational for fanout)
	FutureLimit   time.Duration // events later than now+FutureLimit are quarantined
	MaxPayload    int64         // decompressed payload limit per part, bytes
	Concurrency   int           // parallel S3 puts per batch
	// CommitConcurrency is how many tables commit their transactions in
	// parallel (a table's own transactions always run in order: they all
	// update its catalog item). Default 1: moto's TransactWriteItems is not
	// isolated (a failed transaction restores a snapshot of every table it
	// touched and loses concurrent writes); on AWS, raise it for batches
	// that mix many tables.
	CommitConcurrency int
}

// DefaultConfig returns the defaults: ledger TTL 8 days (longer than the
// Kinesis default retention of 24 h plus a 7-day forwarder retry window),
// late window 10 minutes, future limit 1 hour.
func DefaultConfig() Config {
	return Config{
		AutoCreate:  true,
		LedgerTTL:   192 * time.Hour,
		LateWindow:  10 * time.Minute,
		FutureLimit: time.Hour,
		MaxPayload:  envelope.MaxPayloadRaw,
		Concurrency: 8,

		CommitConcurrency: 1,
	}
}

// Validate reports every configuration problem at once.
func (c Config) Validate() error {
	var errs []error
	req := func(name, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: required", name))
		}
	}
	req("bucket", c.Bucket)
	req("catalog_table", c.CatalogTable)
	req("ledger_table", c.LedgerTable)
	req("manifest_table", c.ManifestTable)
	if c.LedgerTTL <= 0 {
		errs = append(errs, errors.New("ledger_ttl: must be positive"))
	}
	if c.LateWindow < 0 {
		errs = append(errs, errors.New("late_window: must not be negative"))
	}
	if c.FutureLimit <= 0 {
		errs = append(errs, errors.New("future_limit: must be positive"))
	}
	if c.MaxPayload <= 0 {
		errs = append(errs, errors.New("max_payload: must be positive"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, errors.New("concurrency: must be at least 1"))
	}
	if c.CommitConcurrency < 1 {
		errs = append(errs, errors.New("commit_concurrency: must be at least 1"))
	}
	return errors.Join(errs...)
}
