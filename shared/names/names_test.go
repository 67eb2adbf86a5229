package names

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"www", true},
		{"access_log_2", true},
		{strings.Repeat("a", 255), true},
		{"ab", false},
		{strings.Repeat("a", 256), false},
		{"WWW", false},
		{"www-access", false},
		{"a.b", false},
		{"../etc", false},
		{"caf\u00e9", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := Validate("table", tt.in)
			if (err == nil) != tt.want {
				t.Fatalf("Validate(%q) = %v, want ok=%v", tt.in, err, tt.want)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestParseTag(t *testing.T) {
	tests := []struct {
		tag, db, table string
		ok             bool
	}{
		{"td.www.access", "www", "access", true},
		{"td.www", "", "", false},
		{"xx.www.access", "", "", false},
		{"td.www.access.extra", "", "", false},
		{"td.w.access", "", "", false},
		{"td.www.Access", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			db, table, err := ParseTag(tt.tag)
			if (err == nil) != tt.ok || db != tt.db || table != tt.table {
				t.Fatalf("ParseTag(%q) = %q, %q, %v", tt.tag, db, table, err)
			}
			if tt.ok && Tag(db, table) != tt.tag {
				t.Fatalf("Tag round trip = %q", Tag(db, table))
			}
		})
	}
}

func FuzzParseTag(f *testing.F) {
	for _, s := range []string{"td.www.access", "td..", "td.a_b.c_d", "td.\xff\xfe.abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		db, table, err := ParseTag(tag)
		if err != nil {
			return
		}
		for _, n := range []string{db, table} {
			if Validate("name", n) != nil {
				t.Fatalf("ParseTag accepted invalid name %q", n)
			}
		}
		if Tag(db, table) != tag {
			t.Fatalf("round trip of %q gave %q", tag, Tag(db, table))
		}
	})
}
