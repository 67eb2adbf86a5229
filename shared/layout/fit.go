package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// HashMark separates the readable prefix of a hashed component from the
// hex SHA-256 of the full component. It never occurs in an S3 key component
// kept as is (escaping turns it into %21), and never starts a ledger id kept
// as is.
const HashMark = "!"

// readableLen bounds the readable prefix of a hashed component.
const readableLen = 64

// MaxHashedLen is the longest a hashed component can be.
const MaxHashedLen = readableLen + len(HashMark) + 2*sha256.Size

// hashed is the hashed form of the component full: up to readableLen bytes
// of readable (which must not contain HashMark), HashMark, and the hex
// SHA-256 of full.
func hashed(full, readable string) string {
	if len(readable) > readableLen {
		readable = readable[:readableLen]
	}
	sum := sha256.Sum256([]byte(full))
	return readable + HashMark + hex.EncodeToString(sum[:])
}

// IsHashed reports whether an S3 key component (an object name, a host,
// shard, sequence or unique id segment) is in hashed form. For ledger ids
// use ParseLedgerID.
func IsHashed(component string) bool { return strings.Contains(component, HashMark) }
