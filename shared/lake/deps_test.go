package lake_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLakeStaysOutOfHotPaths checks that ingest, fanout and the forwarder
// do not link iceberg-go (it adds ~60 MB and a 2-minute cold build); the
// flush function and the CLI may.
func TestLakeStaysOutOfHotPaths(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../functions/ingest/...", "../../functions/fanout/...", "../../forwarder/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/apache/iceberg-go") || strings.HasSuffix(dep, "/shared/lake") {
			t.Errorf("ingest, fanout or the forwarder links %s", dep)
		}
	}
}
