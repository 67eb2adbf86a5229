// Package flush owns sealing: it claims a table's committed staged objects
// in a claim-then-commit manifest (DynamoDB), writes sealed partitioned
// objects under data/, imports them into every TD endpoint with
// import_with_id, parks refused imports under failed/, marks the hours
// sealed, and deletes the staged objects only after every sink committed.
//
// Items in the manifests table (HASH pk, RANGE sk):
//
//	pk staged#<db>.<table>   sk <staged or late S3 key>  written by fanout; claimed_by = manifest id once claimed
//	pk manifest#<db>.<table> sk <manifest id>           state open -> claimed -> sealed -> done (or aborted),
//	                                                    entries [{k,e,b}], sealed [data keys], imports SS "<endpoint> <n>"
//	pk sealed#<db>.<table>   sk <YYYY-MM-DD>/<HH>        the hour is sealed: fanout routes its events to late/
//
// The manifest id is the first 128 bits of SHA-256 over the sorted staged
// keys it claims; it is created with a conditional put, so a concurrent
// flush that picked the same keys resumes the same manifest. Claims are
// conditional updates taken in key order; a flush that loses a claim race
// releases its claims and marks its manifest aborted. Every later step is
// idempotent (sealed keys and bytes are deterministic, TD unique_id is
// "<manifest id>-<n>", per-sink progress is recorded per object), so any
// invocation resumes an open manifest after a crash.
//
// Every key above (and the data/ and failed/ object keys) is formatted and
// parsed by shared/layout; flush reads a staged object's partition with
// layout.ParsePartKey, never by scanning the key.
//
// Files: handler.go is the entry point and the per-table loop; manifest.go
// the claim-then-commit state machine (staged items, manifests, claims,
// sealed-hour markers, deletion); seal.go reads staged objects and writes
// sealed ones; tdsink.go imports sealed objects into the TD endpoints and
// parks refused ones.
//
// Fault points (test hook, see shared/fault.New; SPILLWAY_FAULT_POINT in main):
// after-manifest, after-claim, after-seal, after-td-import, before-delete,
// after-delete.
package flush
