// Package fanout owns the Kinesis event-source-mapping handler: it decodes
// shared/envelope records, drops parts already processed (dedup ledger),
// writes staged S3 objects under deterministic keys, and commits the ledger
// entry, the staged-object items and the catalog counters of each part in one
// DynamoDB transaction. Undecodable records and far-future events go to the
// quarantine/ prefix. Then it asks flush to seal each table that committed
// new objects (see flush's package doc: at most one request pending per
// table).
//
// Per batch: decode every record, its payload gzip or zstd as the
// envelope's enc says (bad ones are quarantined under
// quarantine/records/shard=<shard>/<sequence>.json with the reason); drop
// parts whose ledger entry exists; split each part's events by UTC hour
// (events of an hour that ended more than LateWindow ago are staged the
// same way and counted as late; events later than now + FutureLimit go to
// quarantine/future/, one object per part and hour); pack each table's
// parts, in order, into as few transactions as DynamoDB allows (100
// actions); stage each pack's events of one hour as one gzip object under
// staged/, named after the pack's ledger ids (the same units give the same
// key and bytes on every delivery), so a batch of many small parts stages
// one object per table-hour, not one per part; widen the table item's
// schema (only when a column appears or widens; optimistic concurrency),
// min_time and max_time (each only when it widens, by a condition that
// fails when another batch widened it further); then one TransactWriteItems
// per pack: Put ledger items if absent + Put one staged item per staged
// object + ADD count, bytes, late_count, future_count on one of the
// table's counter items (Config.CounterItems, chosen by a hash of the first
// ledger id and the attempt), never on the table's own item, so that
// concurrent invocations of one table rarely conflict.
// A ledger condition failure means "already committed": the unit is
// dropped and the rest of the pack is staged again under the name of the
// smaller set before the retry. The objects staged for the larger set are
// left in staged/ with no staged item pointing to them (never sealed,
// never counted: storage only; they occur only when invocations race past
// the ledger pre-check, or after a crash between staging and commit when
// the redelivered batch differs).
// Records that could not be committed are reported as BatchItemFailures from
// the lowest one onward. Last, a flush request per table that committed
// new staged objects (conditional request item + asynchronous Invoke).
//
// Every S3 key and DynamoDB key above is formatted by shared/layout, which
// owns the layout and its rule for names too long for a key.
//
// Fault points (test hook, see shared/fault.New; SPILLWAY_FAULT_POINT in main):
// after-decode, after-stage-s3, after-catalog-bounds, after-commit.
package fanout
