package fanout

import (
	"errors"
	"fmt"
	"time"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/resend"
)

// Config is the typed configuration of the fanout handler. main fills it
// from the environment (shared/lambdaenv names) over DefaultConfig.
type Config struct {
	Bucket        string // S3 bucket for staged, late and quarantine objects (SPILLWAY_BUCKET)
	CatalogTable  string // DynamoDB catalog table (db, table) (SPILLWAY_CATALOG_TABLE)
	LedgerTable   string // DynamoDB dedup ledger (id, TTL on expires_at) (SPILLWAY_LEDGER_TABLE)
	ManifestTable string // DynamoDB manifests table (staged-object items, sealed-hour markers) (SPILLWAY_MANIFEST_TABLE)
	AutoCreate    bool   // create catalog databases and tables on first write (SPILLWAY_AUTO_CREATE)

	// LedgerTTL is the lifetime of a ledger entry (SPILLWAY_LEDGER_TTL_HOURS).
	// It must be at least resend.MinLedgerTTL(ResendHorizon, StreamRetention):
	// a resend that arrives after its entry expired is stored twice.
	LedgerTTL time.Duration
	// ResendHorizon is the longest time a client resends a request under one
	// unique_id (SPILLWAY_RESEND_HORIZON_HOURS); default resend.Horizon.
	ResendHorizon time.Duration
	// StreamRetention is the Kinesis stream's retention
	// (SPILLWAY_STREAM_RETENTION_HOURS); default resend.DefaultStreamRetention.
	StreamRetention time.Duration

	LateWindow  time.Duration // events of an hour that ended longer ago than this are counted as late (SPILLWAY_LATE_WINDOW)
	FutureLimit time.Duration // events later than now+FutureLimit are quarantined (SPILLWAY_FUTURE_LIMIT)
	MaxPayload  int64         // decompressed payload limit per part, bytes
	Concurrency int           // parallel S3 puts per batch

	// CommitConcurrency is how many tables commit their transactions in
	// parallel (SPILLWAY_COMMIT_CONCURRENCY). A table's own transactions
	// always run in order (they may add to the same counter item, and
	// DynamoDB cancels concurrent transactions on one item,
	// TransactionConflict). Transactions of different tables touch disjoint
	// items (their own ledger entries, staged items and counter items),
	// which DynamoDB runs in parallel; the default matches Concurrency. Against moto, run every
	// DynamoDB write through the local edge, which serialises them (moto's
	// TransactWriteItems is not isolated), or set 1.
	CommitConcurrency int

	// CounterItems is how many counter items each table's counts are
	// spread over (shared/layout.CounterKey; SPILLWAY_COUNTER_ITEMS): every
	// commit transaction adds to one of them instead of the table's own
	// item, so concurrent commits of one busy table (shards x
	// parallelization factor) rarely meet on an item (DynamoDB cancels
	// transactions that do, TransactionConflict). Readers sum every counter
	// item a table has (shared/catalog), whatever this number, so it can
	// change at any time. 1 to layout.MaxCounterItems. The default, 64, met
	// 163 TransactionConflicts per 1,000 commits and no failed batch with 16
	// concurrent invocations of one table in BenchmarkHotTableCommits, where
	// 16 met 679 (one failed batch) and 1 met 12,233 (87 of 160 batches
	// failed). Writes cost the same whatever the number; a reader of a
	// table's counts reads up to 64 more small items (~6 KB).
	CounterItems int

	// FlushFunction is the flush function fanout invokes (asynchronously)
	// for each table that committed new staged objects
	// (SPILLWAY_FLUSH_FUNCTION); empty leaves sealing to the schedule.
	FlushFunction string
	// SealAfter is how old a table's oldest commit not yet taken by a
	// flush gets before fanout asks for a flush (SPILLWAY_SEAL_AFTER): the
	// batching that bounds sealed objects (and TD imports) per table to
	// about one per SealAfter. 0 asks after every commit (low latency).
	SealAfter time.Duration
	// FlushRequestStale is how long a pending flush request blocks new
	// ones: past it, fanout assumes the invocation was lost and asks again.
	FlushRequestStale time.Duration
}

// DefaultConfig returns the defaults: the ledger TTL derived from the
// resend horizon and the default stream retention (9 days), auto-create off
// (as ingest and Terraform), late window 10 minutes, future limit 1 hour,
// 8 parallel S3 puts and 8 tables committing in parallel, counts spread
// over 64 counter items per table, a flush asked for
// once a table's oldest unsealed commit is 30 s old, a pending flush request
// considered lost after 2 minutes.
func DefaultConfig() Config {
	return Config{
		LedgerTTL:         resend.MinLedgerTTL(resend.Horizon, resend.DefaultStreamRetention),
		ResendHorizon:     resend.Horizon,
		StreamRetention:   resend.DefaultStreamRetention,
		LateWindow:        10 * time.Minute,
		FutureLimit:       time.Hour,
		MaxPayload:        envelope.MaxPayloadRaw,
		Concurrency:       8,
		CommitConcurrency: 8,
		CounterItems:      64,
		FlushRequestStale: 2 * time.Minute,
		SealAfter:         30 * time.Second,
	}
}

// Validate reports every configuration problem at once, each prefixed with
// its field name.
func (c Config) Validate() error {
	var errs []error
	req := func(name, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: required", name))
		}
	}
	req("Bucket", c.Bucket)
	req("CatalogTable", c.CatalogTable)
	req("LedgerTable", c.LedgerTable)
	req("ManifestTable", c.ManifestTable)
	if c.ResendHorizon < 0 {
		errs = append(errs, fmt.Errorf("ResendHorizon: must not be negative, got %s", c.ResendHorizon))
	}
	if c.StreamRetention <= 0 {
		errs = append(errs, fmt.Errorf("StreamRetention: must be positive, got %s", c.StreamRetention))
	}
	if min := resend.MinLedgerTTL(c.ResendHorizon, c.StreamRetention); c.LedgerTTL < min {
		errs = append(errs, fmt.Errorf("LedgerTTL: %s is shorter than resend horizon %s + stream retention %s + margin %s = %s: late resends would be stored twice",
			c.LedgerTTL, c.ResendHorizon, c.StreamRetention, resend.LedgerMargin, min))
	}
	if c.LateWindow < 0 {
		errs = append(errs, fmt.Errorf("LateWindow: must not be negative, got %s", c.LateWindow))
	}
	if c.FutureLimit <= 0 {
		errs = append(errs, fmt.Errorf("FutureLimit: must be positive, got %s", c.FutureLimit))
	}
	if c.MaxPayload <= 0 {
		errs = append(errs, fmt.Errorf("MaxPayload: must be positive, got %d", c.MaxPayload))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("%s: must be at least 1, got %d", "Concurrency", c.Concurrency))
	}
	if c.SealAfter < 0 || c.SealAfter > 15*time.Minute {
		errs = append(errs, fmt.Errorf("SealAfter: must be 0 to 15m, got %s", c.SealAfter))
	}
	if c.FlushRequestStale <= 0 {
		errs = append(errs, fmt.Errorf("FlushRequestStale: must be positive, got %s", c.FlushRequestStale))
	}
	if c.CounterItems < 1 || c.CounterItems > layout.MaxCounterItems {
		errs = append(errs, fmt.Errorf("CounterItems: must be 1 to %d, got %d", layout.MaxCounterItems, c.CounterItems))
	}
	if c.CommitConcurrency < 1 {
		errs = append(errs, fmt.Errorf("CommitConcurrency: must be at least 1, got %d", c.CommitConcurrency))
	}
	return errors.Join(errs...)
}
