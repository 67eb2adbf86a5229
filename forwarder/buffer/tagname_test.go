package buffer

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/forwarder/intake"
)

// TestAnyTag: a buffer with AnyTag stores Fluentd tags as they are (file
// names escaped), recovers them after a restart, and still refuses what
// cannot be a file name; a buffer without it takes td.<db>.<table> only.
func TestAnyTag(t *testing.T) {
	rec, err := msgpack.Marshal(map[string]any{"time": 1700000000, "msg": "x"})
	if err != nil {
		t.Fatal(err)
	}
	tags := []string{"mytag.access", "app", "Weird/Tag with spaces.%41", "td.web.access", "ünïcode.tag"}
	dir := t.TempDir()
	b := openTest(t, dir, func(c *Config) { c.AnyTag = true })
	for _, tag := range tags {
		if err := b.Append(context.Background(), tag, rec, 1); err != nil {
			t.Fatalf("append %q: %v", tag, err)
		}
	}
	for _, tag := range []string{"", strings.Repeat("x", 201), strings.Repeat("/", 67)} {
		if err := b.Append(context.Background(), tag, rec, 1); !errors.Is(err, intake.ErrUnroutable) {
			t.Errorf("append %q: %v, want ErrUnroutable", tag, err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir, func(c *Config) { c.AnyTag = true }) // recovers and seals the open chunks
	got := map[string]string{}
	for c := b.TryNext(); c != nil; c = b.TryNext() {
		got[c.Tag] = c.DB + "." + c.Table
	}
	for _, tag := range tags {
		if _, ok := got[tag]; !ok {
			t.Errorf("tag %q not recovered (got %v)", tag, got)
		}
	}
	if got["td.web.access"] != "web.access" || got["mytag.access"] != "." {
		t.Errorf("db.table of recovered chunks: %v", got)
	}
	plain := openTest(t, t.TempDir(), nil)
	if err := plain.Append(context.Background(), "mytag.access", rec, 1); !errors.Is(err, intake.ErrUnroutable) {
		t.Errorf("a buffer without AnyTag stored mytag.access: %v", err)
	}
}

func TestEscapeTag(t *testing.T) {
	for _, tag := range []string{"td.a.b", "a b/c%d", "\x00\xff", "x.open", "-_."} {
		esc := escapeTag(tag)
		if strings.ContainsAny(esc, "/ \x00") {
			t.Errorf("escapeTag(%q) = %q holds a byte unsafe in a file name", tag, esc)
		}
		back, err := unescapeTag(esc)
		if err != nil || back != tag {
			t.Errorf("unescapeTag(escapeTag(%q)) = %q, %v", tag, back, err)
		}
	}
	if escapeTag("td.web.access") != "td.web.access" {
		t.Error("a td.<db>.<table> tag must be written unchanged (existing chunk files)")
	}
	for _, bad := range []string{"a%", "a%4", "a%zz"} {
		if _, err := unescapeTag(bad); err == nil {
			t.Errorf("unescapeTag(%q) accepted", bad)
		}
	}
}
