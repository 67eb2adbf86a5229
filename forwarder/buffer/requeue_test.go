package buffer

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestRequeue: parked chunks go back into the queue (all, or those named by
// id prefix); a dry run moves nothing; a reopened buffer ships them.
func TestRequeue(t *testing.T) {
	cases := []struct {
		name      string
		ids       func(parked []string) []string
		dryRun    bool
		wantMoved int
	}{
		{"dry run", func([]string) []string { return nil }, true, 0},
		{"all", func([]string) []string { return nil }, false, 2},
		{"one by id prefix", func(p []string) []string { return []string{p[0][:20]} }, false, 1},
		{"unknown id", func([]string) []string { return []string{"ffff"} }, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Dir = t.TempDir()
			b, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var parked []string
			for i := range 2 {
				rec, _ := msgpack.Marshal(map[string]any{"time": int64(1700000000), "i": int64(i)})
				if err := b.Append(context.Background(), "td.db1.tbl", rec, 1); err != nil {
					t.Fatal(err)
				}
				b.SealAll()
				c, err := b.Next(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if err := b.Park(c, []byte(`{"status_code": 400,`+"\n"+` "body": "bad"}`)); err != nil {
					t.Fatal(err)
				}
				parked = append(parked, c.ID)
			}
			b.Close()
			var out bytes.Buffer
			n, err := Requeue(cfg.Dir, tc.ids(parked), tc.dryRun, &out)
			if err != nil {
				t.Fatal(err)
			}
			wantLines := tc.wantMoved
			if tc.dryRun {
				wantLines = 2
			}
			if n != wantLines || strings.Count(out.String(), "\n") != wantLines || (wantLines > 0 && !strings.Contains(out.String(), `"status_code": 400, "body": "bad"`)) {
				t.Errorf("n = %d, output:\n%s", n, out.String())
			}
			b, err = Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if sealed, _ := b.Pending(); sealed != tc.wantMoved {
				t.Errorf("queued after requeue = %d, want %d", sealed, tc.wantMoved)
			}
		})
	}
}
