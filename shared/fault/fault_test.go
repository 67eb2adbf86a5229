package fault

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	cases := []struct {
		spec      string
		calls     []string
		wantExits int
	}{
		{"", []string{"after-commit", "after-commit"}, 0},
		{"after-commit", []string{"after-decode", "after-commit", "after-commit"}, 2},
		{"after-commit@once", []string{"after-commit", "after-commit", "after-stage-s3"}, 1},
		{"after-decode@once, after-commit@once", []string{"after-decode", "after-decode", "after-commit", "after-commit"}, 2},
		{"after-decode,after-commit@once", []string{"after-decode", "after-commit", "after-decode", "after-commit"}, 3},
		{" , ", []string{"after-decode"}, 0},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			exits := 0
			f := New(c.spec, "fanout", t.TempDir(), func(code int) {
				if code != 3 {
					t.Errorf("exit code %d, want 3", code)
				}
				exits++
			})
			for _, p := range c.calls {
				err := f(context.Background(), p)
				if strings.Contains(c.spec, p) && err == nil && exits == 0 {
					t.Errorf("point %s: nil error after exit returned", p)
				}
			}
			if exits != c.wantExits {
				t.Errorf("exits = %d, want %d", exits, c.wantExits)
			}
		})
	}
}

func TestOnceMarkerRearms(t *testing.T) {
	dir := t.TempDir()
	exits := 0
	f := New("x@once", "flush", dir, func(int) { exits++ })
	_ = f(context.Background(), "x")
	marker := filepath.Join(dir, "spillway-fault-flush-x")
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("marker file: %v", err)
	}
	_ = f(context.Background(), "x")
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	_ = f(context.Background(), "x")
	if exits != 2 {
		t.Fatalf("exits = %d, want 2 (once, then again after re-arming)", exits)
	}
}
