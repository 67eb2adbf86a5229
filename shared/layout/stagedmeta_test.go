package layout

import (
	"strings"
	"testing"
)

func TestStagedObjectMeta(t *testing.T) {
	long := strings.Repeat("x", 2000)
	cases := []struct {
		name string
		ids  []string
		want string
		ok   bool
	}{
		{"shortest kept", []string{"db.t.uid-long.0", "db.t.u.1", "db.t.uid.2"}, "db.t.u.1", true},
		{"non-ASCII escaped and back", []string{"db.t.ユニーク 1.0"}, "db.t.ユニーク 1.0", true},
		{"too long for S3 metadata", []string{long}, "", false},
		{"too long skipped for a shorter one", []string{long, "db.t.u.0"}, "db.t.u.0", true},
		{"none", nil, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			meta := StagedObjectMeta(c.ids)
			for _, v := range meta {
				for _, r := range v {
					if r > 127 {
						t.Fatalf("metadata %q is not US-ASCII", v)
					}
				}
			}
			// S3 returns metadata keys in lower case; the key is lower case already.
			got, ok := StagedObjectLedgerID(meta)
			if got != c.want || ok != c.ok {
				t.Errorf("got %q %v, want %q %v", got, ok, c.want, c.ok)
			}
		})
	}
}
