package layout

import (
	"net/url"
	"strings"
)

// StagedMetaLedgerID is the S3 user metadata key (x-amz-meta-ledger-id)
// under which fanout records, on each staged object, one ledger id of the
// transaction that commits it.
const StagedMetaLedgerID = "ledger-id"

// maxStagedMeta bounds the escaped ledger id kept in a staged object's
// metadata: S3 allows 2 KB of user metadata, key names included.
const maxStagedMeta = 1900

// StagedObjectMeta is the user metadata of a staged object committed, if
// ever, in one transaction with the ledger ids: the shortest of them,
// query-escaped (S3 metadata is US-ASCII). Once that ledger entry exists,
// no transaction can ever commit the object's staged item (every such
// transaction puts the entry on the condition that it is absent), so an
// object whose item is absent then is unreferenced for good and may be
// deleted (see flush's staged sweep). Nil when no id fits.
func StagedObjectMeta(ledgerIDs []string) map[string]string {
	best := ""
	for _, id := range ledgerIDs {
		if e := url.QueryEscape(id); len(e) <= maxStagedMeta && (best == "" || len(e) < len(best)) {
			best = e
		}
	}
	if best == "" {
		return nil
	}
	return map[string]string{StagedMetaLedgerID: best}
}

// StagedObjectLedgerID returns the ledger id StagedObjectMeta recorded in
// meta (S3 returns user metadata keys in lower case); ok is false when
// there is none or it does not decode.
func StagedObjectLedgerID(meta map[string]string) (id string, ok bool) {
	for k, v := range meta {
		if strings.EqualFold(k, StagedMetaLedgerID) {
			id, err := url.QueryUnescape(v)
			return id, err == nil && id != ""
		}
	}
	return "", false
}
