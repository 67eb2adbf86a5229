package flush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/spillwayhq/spillway/local/lambdarun"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

// TestBootstrapFaultPointExitsOnce runs the real bootstrap binary through
// the Lambda Runtime API, with its TD API key read from Secrets Manager and
// SPILLWAY_FAULT_POINT=after-td-import@once: the first invocation dies after
// the first import, the retry resumes the manifest, and S3 and the TD
// receiver hold every record once.
func TestBootstrapFaultPointExitsOnce(t *testing.T) {
	e := newTestEnv(t)
	td := newTDReceiver(t)
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./cmd/bootstrap").CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}
	url := motoServer(t).URL()
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	secret := "td-keys-" + e.cfg.Bucket
	if _, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(secret),
		SecretString: aws.String(fmt.Sprintf(`{%q: "k"}`, td.srv.URL))}); err != nil {
		t.Fatal(err)
	}
	e.stage(t, "db_one", "tbl_a", hourT-7200, false, "p1", "a1", "a2")
	e.stage(t, "db_one", "tbl_a", hourT-3600, false, "p2", "b1")
	r, err := lambdarun.New(lambdarun.Config{
		Name: "flush", Binary: bin, Timeout: 30 * time.Second, Logs: discardWriter{}, Logger: discardLogger(),
		Env: map[string]string{
			"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
			"TMPDIR": t.TempDir(), lambdaenv.FaultPoint: "after-td-import@once",
			lambdaenv.Bucket: e.cfg.Bucket, lambdaenv.CatalogTable: e.cfg.CatalogTable, lambdaenv.ManifestTable: e.cfg.ManifestTable,
			lambdaenv.TDEndpoints: td.srv.URL, lambdaenv.TDAPIKeySecret: secret, lambdaenv.SealTargetBytes: "1", lambdaenv.LateWindow: "10m",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx := context.Background()
	if _, err := r.Invoke(ctx, forced); !errors.Is(err, lambdarun.ErrExited) {
		t.Fatalf("first invocation: err = %v, want the process to exit", err)
	}
	out, err := r.Invoke(ctx, forced)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	var res Result
	if err := json.Unmarshal(out, &res); err != nil || res.Resumed != 1 {
		t.Fatalf("retry result %s: %v", out, err)
	}
	want := []string{"a1", "a2", "b1"}
	if got := e.sealedMsgs(t); !slices.Equal(got, want) {
		t.Errorf("sealed = %v", got)
	}
	if got := td.msgs(t); !slices.Equal(got, want) {
		t.Errorf("td = %v", got)
	}
	if !td.auth["TD1 k"] || len(td.auth) != 1 {
		t.Errorf("authorization headers = %v, want only the key from the secret", td.auth)
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
