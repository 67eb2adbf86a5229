// Package fanout owns the Kinesis event-source-mapping handler: it decodes
// shared/envelope records, drops parts already processed (dedup ledger),
// writes staged S3 objects under deterministic keys, and commits the ledger
// entry, the staged-object items and the catalog counters of each part in one
// DynamoDB transaction. Undecodable records and far-future events go to the
// quarantine/ prefix; events for sealed hours go to late/.
//
// Fault points (test hook, see NewFault): after-decode, after-stage-s3,
// after-catalog-bounds, after-commit.
package fanout
