// Package flush owns sealing: it claims a table's committed staged objects
// in a claim-then-commit manifest (DynamoDB), writes sealed partitioned
// objects under data/, deletes the staged objects, then imports the sealed
// objects into every TD endpoint with import_with_id, parking only refused
// content under failed/.
//
// # What is visible when
//
// Sealing is continuous: every run seals everything committed, whatever its
// hour, so an hour partition holds one sealed object per run that had
// events for it: about two a minute per table under steady traffic with
// the default SealAfter. data/ is not compacted: a plain S3 prefix cannot
// swap small objects for their compacted replacement atomically for a
// reader that lists it. Compaction belongs to the lake's Iceberg tables
// (see "The lake" below). Runs start three ways:
//
//   - fanout asks for a flush of a table (asynchronous Invoke) when its
//     first commit since the last flush is SealAfter old (30 s: about one
//     sealed object per table and hour per 30 s under steady traffic), or at
//     once when no flush took the table for SealAfter (a quiet table's first
//     events), at most one request pending per table: a flush-request item
//     that this package takes (removes first_at and requested_at, sets
//     flushed_at) when it starts on the table, before it reads the staged
//     items, so a commit either is sealed by this run or counts toward the
//     next;
//   - the schedule (EventBridge, every minute by default) is the safety net
//     for lost requests and backlogs waiting for their retry time; while it
//     finds work it sweeps the tables again every SweepEvery (30 s) for 50
//     s, so that the last commits before traffic stops (which no later
//     commit makes fanout ask for) wait at most about SweepEvery;
//   - POST /v1/flush (ingest) forces every backlog to be retried now.
//
// So an acknowledged event is in S3 and every healthy TD endpoint at most
// about SealAfter (or SweepEvery, for the last events of a burst) plus one
// batching window and one flush run after its ack; the catalog counts it
// when fanout commits it, before that. bench/e2e measures it.
//
// # Sinks are independent
//
// S3 completes first: once a manifest's sealed objects are written its
// staged objects are deleted (the manifest is "stored"), and each TD
// endpoint imports the sealed objects from data/ at its own pace. An
// endpoint that fails (5xx, 429, 401/403, a 404 that creating the database
// and table does not cure) keeps its backlog in the stored manifest, retried
// with backoff (15 s doubling, at most 10 minutes) and measured as
// OldestUnimportedSeconds per endpoint; it delays no other sink and no new
// manifest. Only content errors (400/413/415/422) park the object under
// failed/ with the response. Nothing the pipeline needs carries an S3
// lifecycle rule or a DynamoDB TTL; finished manifests are deleted, so a
// run's work does not grow with a table's history. Tables are visited in an
// order that rotates every minute, and a run stops starting work 20 s
// before its deadline.
//
// # The lake
//
// With WithLake (SPILLWAY_LAKE_WAREHOUSE in main) the Iceberg lake is one
// more sink, named LakeSink ("lake") in import marks and metrics: a
// manifest's sealed objects are appended with shared/lake.Append in
// batches of consecutive objects up to 64 MiB of records (one Iceberg
// commit per run and table, typically), each under the seal id
// LakeSealID(manifest, first, end), so a resumed or racing run appends a
// batch once; a lake failure is retried with the TD endpoints' backoff and
// never parked. Before appending, flush marks each object's hour for
// compaction (a
// compact# item, due when the hour's late window has passed; every append
// bumps its marks counter). Scheduled runs, after sealing, compact the due
// hours of every table (lake.Compact: one atomic commit per group of at
// most SPILLWAY_LAKE_COMPACT_MAX_ROWS rows of an hour) within
// their time budget, stopping between two groups at the deadline reserve
// (the hour's item stays; the next run goes on), and delete each item
// unless an append marked it again meanwhile. data/ and the TD endpoints are never compacted.
//
// Scheduled runs then maintain each lake table, at most once an hour
// (lakemaint.go): they expire snapshots older than LakeSnapshotAge
// (keeping LakeKeepSnapshots; iceberg-go deletes the files only expired
// snapshots referenced) and, once a day, delete unreferenced files older
// than LakeOrphanAge. Expiry removes seal ids, the evidence a resumed or racing
// run checks before appending, so the cutoff never passes a seal whose
// manifest is live without the lake's mark for it, and it is observed
// (lake#<db>.<table> item) an hour before it is applied: longer than a run
// lives, so no run that read a manifest before the mark was recorded is
// still running when the seal goes.
//
// # Items in the manifests table (HASH pk, RANGE sk)
//
//	pk staged#<db>.<table>   sk <staged or late S3 key>  written by fanout; claimed_by = manifest id once claimed
//	pk manifest#<db>.<table> sk <manifest id>           state open -> claimed -> sealed -> stored -> done (or aborted), then deleted;
//	                                                    parts [hour of each sealed object], progress SS "<endpoint> <n>",
//	                                                    retries and retry_at while an endpoint fails
//	pk request#<db>.<table>  sk flush                    a pending flush request from fanout
//	pk compact#<db>.<table>  sk <YYYY-MM-DD>/<HH>        a lake hour to compact: due_at (unix), marks
//	pk lake#<db>.<table>     sk expiry                  the lake snapshot cutoff observed safe to expire: cutoff_ms, observed_at
//
// A manifest's entries (the staged objects it claims, [{k,e,b}]) are its
// body object, manifests/db=<db>/table=<table>/<id>.json, written once
// before its item and deleted just before it; the item holds what changes
// and stays about 1 KB however many objects the manifest holds, so that
// each state change and progress record costs one write unit (issue 16: an
// item holding every entry and sealed key, 19 KB for a backfill part of 85
// hours, was rewritten by each of them). Sealed object n is named by its
// partition hour (parts[n]), the manifest id and n. An endpoint's progress
// is one number, the sealed objects 0 to n-1 it has imported (each sink
// goes through them in order and stops at its first failure), recorded
// when it stops, after a lake batch and every markEvery objects of a TD
// endpoint: a crash makes a resume import at most those again, which TD
// keeps once per unique_id and the lake once per seal id. Claims and the
// deletion of claimed items are single conditional writes (one write unit
// per item; a transaction bills two), the first (lowest) key alone, then
// claims, releases and deletes itemWindow at a time: a claim batch never
// needed to be atomic, since a manifest that loses any claim releases the
// ones it holds.
//
// A manifest id is 128 random bits (layout.NewManifestID), new for every
// manifest created, never the hash of the keys it claims: a run holding a
// finished (deleted) manifest must find it gone, not recreate it or advance
// a later manifest of the same keys (a stale open -> claimed on such a
// recreated manifest left it claimed over deleted staged objects, failing
// every run of its table). Racing flushes that picked the same keys each
// create a manifest; claims are conditional updates, the lowest key first,
// so one manifest claims them all and the others lose a claim, release
// their claims and are aborted and deleted. Every later step is idempotent
// (sealed keys and bytes are deterministic per manifest, TD unique_id is
// "<manifest id>-<n>", a lake batch's seal id is fixed by its objects), so
// any invocation resumes a live (or aborted) manifest after a crash. It
// does so once drivenFor (30 s) has passed since a run last moved the
// manifest on (a state change or a progress record; Result.Driven counts
// those left): fanout's flush requests start runs of a busy table back to
// back, and each would otherwise redo the manifests of the runs before it
// (read their staged objects, write their sealed objects and race their
// lake commits). Forced runs resume every manifest at once. A
// manifest that cannot go on (a staged object it claimed is unreadable)
// holds only its own objects: the table's other objects are sealed by new
// manifests. A claimed manifest whose staged object is gone although no
// run sealed it (deleted outside the pipeline) is given up: the missing
// object's item is dropped (logged, counted as Result.Missing), the other
// claims released, and a new manifest seals those objects once.
//
// Staged orphans: fanout names a staged object after the ledger ids of the
// transaction that commits it and stages it first, so a transaction that
// never commits that set (a crash and a batch redelivered in another
// shape, a bisected batch, a racing invocation) leaves an object no staged
// item references. Forced runs, and scheduled runs once an hour per table,
// delete those whose ledger entry (recorded in the object's metadata)
// exists while their staged item does not: no transaction can write that
// item any more (stagedsweep.go).
//
// Every key above (and the data/ and failed/ object keys) is formatted and
// parsed by shared/layout; flush reads a staged object's partition with
// layout.ParsePartKey, never by scanning the key.
//
// Files: handler.go is the entry point and the per-table loop; manifest.go
// the claim-then-commit state machine (staged items, manifests, claims,
// deletion, retries); seal.go reads staged objects and writes sealed ones;
// tdsink.go imports sealed objects into the TD endpoints and parks refused
// ones; lakesink.go the lake sink and compaction; lakemaint.go lake
// snapshot expiry and orphan files; stagedsweep.go staged orphans;
// metrics.go the EMF metrics.
//
// Fault points (test hook, see shared/fault.New; SPILLWAY_FAULT_POINT in main):
// after-manifest, after-claim, after-seal, before-delete, after-delete,
// after-td-import, after-pass (once per pass over the tables); with the lake
// on, also lake-data-written and lake-committed (shared/lake, per append and
// compaction), after-compact, lake-expired and lake-orphans-planned.
package flush
