package buffer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spillwayhq/spillway/shared/names"
)

// maxTagName bounds a tag as written in a chunk file name (escaped), so
// that "<32 hex id>.<tag>.chunk" stays within the 255 bytes of a name.
const maxTagName = 200

// escapeTag writes tag for a file name: [A-Za-z0-9_.-] as they are, every
// other byte as %XX. A td.<db>.<table> tag is written unchanged.
func escapeTag(tag string) string {
	var b strings.Builder
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// unescapeTag reverses escapeTag.
func unescapeTag(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		var c byte
		if i+2 >= len(s) {
			return "", errors.New("tag: cut %XX escape")
		}
		if _, err := fmt.Sscanf(s[i+1:i+3], "%02X", &c); err != nil {
			return "", fmt.Errorf("tag: bad %%XX escape: %w", err)
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String(), nil
}

// checkTag says whether the buffer stores tag: with AnyTag any non-empty
// tag whose escaped form fits a file name, otherwise td.<db>.<table> with
// valid names.
func (b *Buffer) checkTag(tag string) error {
	if !b.cfg.AnyTag {
		_, _, err := names.ParseTag(tag)
		return err
	}
	if tag == "" {
		return errors.New("empty tag")
	}
	if n := len(escapeTag(tag)); n > maxTagName {
		return fmt.Errorf("tag of %d bytes (escaped for a file name), over %d", n, maxTagName)
	}
	return nil
}

// tagTable returns the database and table of a td.<db>.<table> tag, empty
// for another tag (stored with AnyTag).
func tagTable(tag string) (db, table string) {
	db, table, _ = names.ParseTag(tag)
	return db, table
}
