// Package names owns Treasure Data's naming rules for databases and tables
// and the Fluentd tag form (td.<db>.<table>) that carries them.
//
// Every name that reaches an S3 key, a DynamoDB key or a Kinesis partition
// key must pass Validate first.
package names

import (
	"errors"
	"fmt"
	"strings"
)

// Limits from Treasure Data's naming rules.
const (
	MinLen = 3
	MaxLen = 255
)

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid name")

// Validate reports whether s is a valid database or table name: 3 to 255
// characters of [a-z0-9_]. kind ("database" or "table") only labels the error.
func Validate(kind, s string) error {
	if len(s) < MinLen || len(s) > MaxLen {
		return fmt.Errorf("%w: %s name %q must be %d to %d characters long", ErrInvalid, kind, clip(s), MinLen, MaxLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' {
			continue
		}
		return fmt.Errorf("%w: %s name %q may only contain [a-z0-9_], found %q at byte %d", ErrInvalid, kind, clip(s), c, i)
	}
	return nil
}

// ParseTag splits a Fluentd tag of the form td.<db>.<table> and validates
// both names.
func ParseTag(tag string) (db, table string, err error) {
	parts := strings.Split(tag, ".")
	if len(parts) != 3 || parts[0] != "td" {
		return "", "", fmt.Errorf("%w: tag %q is not of the form td.<database>.<table>", ErrInvalid, clip(tag))
	}
	if err := Validate("database", parts[1]); err != nil {
		return "", "", err
	}
	if err := Validate("table", parts[2]); err != nil {
		return "", "", err
	}
	return parts[1], parts[2], nil
}

// Tag builds the Fluentd tag for a database and table.
func Tag(db, table string) string { return "td." + db + "." + table }

// clip shortens s for error messages so a hostile name cannot flood a log.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
