package httpin

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/forwarder/buffer"
)

// TestUnroutableTagRefused: a request whose tag no route accepts (today: any
// tag that is not td.<db>.<table> with valid names) is answered 400 with a
// message naming the tag rule, nothing reaches the buffer, and the refusal
// is counted (issue 13: never acknowledged and dropped).
func TestUnroutableTagRefused(t *testing.T) {
	tests := []struct {
		name, path string
	}{
		{"app.access", "/app.access"},
		{"app/access", "/app/access"},
		{"two parts", "/td.db1"},
		{"bad database name", "/td.Bad-Db.tbl1"},
	}
	cfg := buffer.DefaultConfig()
	cfg.Dir = t.TempDir()
	buf, err := buffer.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { buf.Close() })
	srv, base := startServerStats(t, DefaultConfig(), buf)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := http.Post(base+tt.path, "application/json", bytes.NewReader([]byte(`[{"a":1},{"a":2}]`)))
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(msg), "no route accepts tag") || !strings.Contains(string(msg), "td.<database>.<table>") {
				t.Fatalf("got %d %q, want 400 naming the tag rule", res.StatusCode, msg)
			}
			if st := srv.Stats(); st.Unroutable != uint64(i+1) || st.Records != 0 {
				t.Fatalf("stats %+v, want %d unroutable, no records", st, i+1)
			}
			if st := buf.Stats(); st.AppendedRecs != 0 || st.Bytes != 0 {
				t.Fatalf("buffer holds %d records (%d bytes), want none", st.AppendedRecs, st.Bytes)
			}
		})
	}
}
