package tail

import (
	"os"
	"testing"
)

func TestExpandTag(t *testing.T) {
	tests := []struct{ tag, path, want string }{
		{"app.*", "/var/log/a.log", "app.var.log.a.log"},
		{"*", "/var/log/a.log", "var.log.a.log"},
		{"app.*.raw", "/var//log/a.log", "app.var.log.a.log.raw"},
		{"td.web.access", "/var/log/a.log", "td.web.access"},
		{"app.*", "rel/a", "app.rel.a"},
	}
	for _, tt := range tests {
		if got := ExpandTag(tt.tag, tt.path); got != tt.want {
			t.Errorf("ExpandTag(%q, %q) = %q, want %q", tt.tag, tt.path, got, tt.want)
		}
	}
}

// TestUnroutableFileNotFollowed: with a bare buffer (td.<db>.<table> only),
// a file whose expanded tag the buffer would refuse is not followed: no
// position, nothing read, counted.
func TestUnroutableFileNotFollowed(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Tag = "app.*" })
	if err := os.WriteFile(e.log, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.poll()
	if s := e.tl.Stats(); s.UnroutableFiles != 1 || s.Lines != 0 {
		t.Fatalf("stats %+v, want 1 unroutable file and no line read", s)
	}
	if fs := e.tl.Files(); len(fs) != 0 {
		t.Fatalf("files followed: %+v", fs)
	}
	e.poll()
	if s := e.tl.Stats(); s.UnroutableFiles != 1 {
		t.Fatalf("stats %+v: the file is counted once", s)
	}
}
