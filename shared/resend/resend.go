// Package resend owns the time bounds of redelivery: how long a client may
// resend a request under the same unique_id, and the lifetime of the dedup
// ledger entry that follows from it. fanout checks its ledger TTL with
// MinLedgerTTL; infra/terraform derives ledger_ttl_hours with the same rule
// (a test compares the two).
package resend

import "time"

const (
	// Horizon is the longest time a client may resend one chunk under the
	// same unique_id, counted from its first send: the spillway-forwarder
	// retry horizon. A resend after Horizon may be stored twice.
	//
	// The forwarder does not enforce it yet (it retries transient failures
	// without limit); issue 12 makes it park a chunk once it is older than
	// this. Other clients (td-agent's tdlog output, fluent-bit) must keep
	// their retry_timeout below it, or the deployment must raise
	// resend_horizon_hours in Terraform.
	Horizon = 7 * 24 * time.Hour

	// DefaultStreamRetention is the Kinesis retention Terraform creates the
	// stream with by default (and the Kinesis minimum).
	DefaultStreamRetention = 24 * time.Hour

	// LedgerMargin is added to the resend horizon and the stream retention:
	// it covers clock skew between clients and AWS, the time between a
	// chunk's creation and its first send, and a retry that crosses the
	// horizon while in flight. A day costs little: ledger entries are small.
	LedgerMargin = 24 * time.Hour
)

// MinLedgerTTL is the shortest ledger TTL that still catches every resend:
// a ledger entry is written no earlier than the first send of its part, and
// a resend of that part may reach fanout up to horizon (the client resends)
// plus retention (the record waits in Kinesis) after it.
func MinLedgerTTL(horizon, retention time.Duration) time.Duration {
	return horizon + retention + LedgerMargin
}
