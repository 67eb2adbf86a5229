// Package flush owns sealing: it claims a table's committed staged objects
// in a claim-then-commit manifest (DynamoDB), writes sealed partitioned
// objects under data/, imports them into every TD endpoint with
// import_with_id, parks refused imports under failed/, marks the hours
// sealed, and deletes the staged objects only after every sink committed. A
// crashed or concurrent flush resumes the open manifest instead of making a
// second one.
//
// Fault points (test hook, see NewFault): after-manifest, after-claim,
// after-seal, after-td-import, before-delete, after-delete.
package flush
