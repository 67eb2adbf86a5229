// Package lambdaenv owns the environment of the Lambda functions: the names
// of the variables they read (Terraform in infra/terraform sets exactly
// these, and local/ passes what Terraform deployed; a test checks both
// directions) and the one loader that parses them into a typed config.
package lambdaenv

// Variables read by one or more functions.
const (
	LogLevel             = "SPILLWAY_LOG_LEVEL"              // debug, info (default), warn, error
	StreamName           = "SPILLWAY_STREAM_NAME"            // Kinesis stream that ingest writes
	Bucket               = "SPILLWAY_BUCKET"                 // S3 bucket for staged, sealed, late, quarantine and failed objects
	CatalogTable         = "SPILLWAY_CATALOG_TABLE"          // DynamoDB table catalog
	LedgerTable          = "SPILLWAY_LEDGER_TABLE"           // DynamoDB dedup ledger (TTL on expires_at)
	ManifestTable        = "SPILLWAY_MANIFEST_TABLE"         // DynamoDB staged-object and flush-manifest table
	APIKeysTable         = "SPILLWAY_APIKEYS_TABLE"          // DynamoDB hashed API keys
	FlushFunction        = "SPILLWAY_FLUSH_FUNCTION"         // name of the flush function ingest (on /v1/flush) and fanout (new staged objects) invoke
	AutoCreate           = "SPILLWAY_AUTO_CREATE"            // "true": create databases and tables on first write
	AuthMode             = "SPILLWAY_AUTH_MODE"              // "apikey" (TD1 keys, default) or "iam" (API Gateway IAM auth)
	IAMScopes            = "SPILLWAY_IAM_SCOPES"             // JSON {"<principal ARN>": {"databases": [...], "read", "write", "flush": bool}} for SigV4 callers
	LedgerTTLHours       = "SPILLWAY_LEDGER_TTL_HOURS"       // how long dedup ledger entries live
	ResendHorizonHours   = "SPILLWAY_RESEND_HORIZON_HOURS"   // longest time a client resends a request under one unique_id
	StreamRetentionHours = "SPILLWAY_STREAM_RETENTION_HOURS" // retention of the Kinesis stream fanout reads
	CommitConcurrency    = "SPILLWAY_COMMIT_CONCURRENCY"     // tables whose DynamoDB transactions fanout commits in parallel
	CounterItems         = "SPILLWAY_COUNTER_ITEMS"          // catalog counter items a table's counts are spread over (readers sum them all)
	LateWindow           = "SPILLWAY_LATE_WINDOW"            // Go duration: how long after an hour ends it may still receive events
	FutureLimit          = "SPILLWAY_FUTURE_LIMIT"           // Go duration: events further in the future are quarantined
	TDEndpoints          = "SPILLWAY_TD_ENDPOINTS"           // comma-separated TD import API base URLs flush uploads to
	TDAPIKeySecret       = "SPILLWAY_TD_APIKEY_SECRET"       // Secrets Manager id of a JSON object {"<endpoint url>": "<apikey>"}
	SealTargetBytes      = "SPILLWAY_SEAL_TARGET_BYTES"      // target size of a sealed object
	SweepEvery           = "SPILLWAY_SWEEP_EVERY"            // Go duration: how often a scheduled flush passes over the tables again within its first 50 s
	SealAfter            = "SPILLWAY_SEAL_AFTER"             // Go duration: how old a table's oldest unsealed commit gets before fanout asks for a flush
	LakeWarehouse        = "SPILLWAY_LAKE_WAREHOUSE"         // s3://bucket/prefix of the Iceberg lake flush appends to; empty: the lake is off
	LakeSnapshotAge      = "SPILLWAY_LAKE_SNAPSHOT_AGE"      // Go duration: lake snapshots older than this are expired by scheduled flush runs
	LakeKeepSnapshots    = "SPILLWAY_LAKE_KEEP_SNAPSHOTS"    // the newest lake snapshots kept whatever their age
	LakeOrphanAge        = "SPILLWAY_LAKE_ORPHAN_AGE"        // Go duration: unreferenced lake files older than this are deleted
	LakeCompactMaxRows   = "SPILLWAY_LAKE_COMPACT_MAX_ROWS"  // input rows of one lake compaction commit at most (bounds its memory)
)

// FaultPoint is read by fanout and flush to crash at a named step. It is a
// test hook: Terraform never sets it.
const FaultPoint = "SPILLWAY_FAULT_POINT"

// ByFunction lists, per function, every variable it reads (FaultPoint aside).
var ByFunction = map[string][]string{
	"ingest": {LogLevel, StreamName, CatalogTable, APIKeysTable, FlushFunction, AutoCreate, AuthMode, IAMScopes},
	"fanout": {LogLevel, Bucket, CatalogTable, LedgerTable, ManifestTable, AutoCreate, LedgerTTLHours, ResendHorizonHours,
		StreamRetentionHours, CommitConcurrency, CounterItems, LateWindow, FutureLimit, FlushFunction, SealAfter},
	"flush": {LogLevel, Bucket, CatalogTable, ManifestTable, LedgerTable, TDEndpoints, TDAPIKeySecret, SealTargetBytes, LateWindow, SweepEvery, LakeWarehouse,
		LakeSnapshotAge, LakeKeepSnapshots, LakeOrphanAge, LakeCompactMaxRows},
}
