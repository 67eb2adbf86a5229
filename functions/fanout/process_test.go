package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/spillwayhq/spillway/local/lambdarun"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

// buildBootstrap compiles cmd/bootstrap into a temp dir as Lambda would run it.
func buildBootstrap(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "bootstrap")
	out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./cmd/bootstrap").CombinedOutput()
	if err != nil {
		tb.Fatalf("build bootstrap: %v\n%s", err, out)
	}
	return bin
}

// TestBootstrapFaultPointExitsOnce runs the real bootstrap binary through
// the Lambda Runtime API with SPILLWAY_FAULT_POINT=after-commit@once: the
// first invocation kills the process after committing, the redelivery runs
// clean, and the catalog counts every event exactly once.
func TestBootstrapFaultPointExitsOnce(t *testing.T) {
	e := newTestEnv(t)
	bin := buildBootstrap(t)
	r, err := lambdarun.New(lambdarun.Config{
		Name: "fanout", Binary: bin, Timeout: 30 * time.Second, Logs: discardWriter{}, Logger: discardLogger(),
		Env: map[string]string{
			"AWS_ENDPOINT_URL": motoServer(t).URL(), "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
			"TMPDIR": t.TempDir(), lambdaenv.FaultPoint: "after-commit@once",
			lambdaenv.Bucket: e.cfg.Bucket, lambdaenv.CatalogTable: e.cfg.CatalogTable,
			lambdaenv.LedgerTable: e.cfg.LedgerTable, lambdaenv.ManifestTable: e.cfg.ManifestTable,
			lambdaenv.AutoCreate: "true", lambdaenv.LedgerTTLHours: "216", lambdaenv.LateWindow: "10m", lambdaenv.FutureLimit: "876000h",
			lambdaenv.CommitConcurrency: "1", // moto directly, without the edge's serialised writes (see newTestEnv)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	payload, err := json.Marshal(batchOf(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Invoke(ctx, payload); !errors.Is(err, lambdarun.ErrExited) {
		t.Fatalf("first invocation: err = %v, want the process to exit", err)
	}
	out, err := r.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	var resp events.KinesisEventResponse
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery response %s: %v", out, err)
	}
	if a, b := e.catalog(t, "db_one", "tbl_a"), e.catalog(t, "db_one", "tbl_b"); a.Count != 4 || b.Count != 2 {
		t.Errorf("counts = %d, %d; want 4, 2", a.Count, b.Count)
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
