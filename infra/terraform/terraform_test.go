package terraform_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/spillwayhq/spillway/local/apigw"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/moto"
	"github.com/spillwayhq/spillway/local/tfrun"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// newRunner copies infra/terraform into a temp dir and prepares terraform
// for the root module at dir.
func newRunner(tb testing.TB, dir string) *tfrun.Runner {
	tb.Helper()
	r, err := tfrun.New(tfrun.Options{Source: ".", Module: dir, Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			if b, err := os.ReadFile(r.LogPath()); err == nil {
				tb.Logf("terraform log tail:\n%s", tail(string(b), 6000))
			}
		}
		if err := r.Close(); err != nil {
			tb.Error(err)
		}
	})
	return r
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func TestTerraformFmt(t *testing.T) {
	bad := t.TempDir()
	src, err := os.ReadFile("testdata/fmt/unformatted.tf.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "main.tf"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dir   string
		clean bool
	}{
		{name: "module and examples", dir: ".", clean: true},
		{name: "fixture unformatted", dir: bad, clean: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("terraform", "fmt", "-check", "-recursive", "-diff", "-no-color", tc.dir)
			cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1")
			out, err := cmd.CombinedOutput()
			if tc.clean && err != nil {
				t.Fatalf("terraform fmt -check: %v\n%s", err, out)
			}
			if !tc.clean && err == nil {
				t.Fatalf("terraform fmt -check passed an unformatted file")
			}
		})
	}
}

func TestTerraformValidate(t *testing.T) {
	dirs := append([]string{moduleDir}, exampleDirs(t)...)
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			r := newRunner(t, dir)
			if err := r.Init(ctx, "-backend=false"); err != nil {
				t.Fatal(err)
			}
			if err := r.Validate(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// buildZips builds each function's bootstrap for linux/arm64 and zips it as
// `make build` does, into a temp dir it returns.
func buildZips(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, fn := range functionNames {
		bin := filepath.Join(dir, fn, "bootstrap")
		if out, err := goBuild(bin, "./functions/"+fn+"/cmd/bootstrap"); err != nil {
			tb.Fatalf("build functions/%s: %v\n%s", fn, err, out)
		}
		writeZip(tb, filepath.Join(dir, fn+"-arm64.zip"), bin)
	}
	return dir
}

func goBuild(out, pkg string) ([]byte, error) {
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, pkg)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	return cmd.CombinedOutput()
}

func writeZip(tb testing.TB, path, bin string) {
	tb.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write(b)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("write %s: %v", path, err)
	}
}

// TestApplyLocalAgainstMoto deploys examples/local to moto, reads the
// deployment back through the AWS API, checks a second plan is empty and
// destroys it.
func TestApplyLocalAgainstMoto(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	zips := buildZips(t)
	srv, err := moto.Start(ctx, moto.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	// Through the edge, as the local cloud applies it: it gives moto what
	// the module needs of AWS that moto lacks (CreateRestApi's
	// binaryMediaTypes).
	e, err := edge.Start(ctx, edge.Config{Addr: "127.0.0.1:0", Backend: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })

	r := newRunner(t, "examples/local")
	vars := map[string]string{
		"endpoint":            e.URL(),
		"lambda_package_dir":  zips,
		"name_prefix":         "spw-test",
		"td_endpoints":        `["http://127.0.0.1:4568"]`,
		"enable_iam_auth_api": "true",
	}
	timed := func(name string, f func() error) {
		t.Helper()
		start := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("terraform %s: %v", name, time.Since(start).Round(100*time.Millisecond))
	}
	timed("init", func() error { return r.Init(ctx) })
	timed("apply", func() error { return r.Apply(ctx, vars) })

	out, err := r.Output(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantOutputs := []string{"api_id", "api_endpoint", "stream_name", "stream_arn", "bucket", "catalog_table", "ledger_table",
		"manifest_table", "apikeys_table", "function_names", "esm_uuid", "flush_rule_name", "td_apikey_secret_arn", "rest_api_id", "rest_api_stage"}
	for _, k := range wantOutputs {
		if len(out[k]) == 0 || string(out[k]) == "null" || string(out[k]) == `""` {
			t.Errorf("output %s = %s, want a value", k, out[k])
		}
	}
	var fnNames map[string]string
	if err := json.Unmarshal(out["function_names"], &fnNames); err != nil {
		t.Fatalf("function_names: %v", err)
	}
	var esmUUID string
	if err := json.Unmarshal(out["esm_uuid"], &esmUUID); err != nil {
		t.Fatalf("esm_uuid: %v", err)
	}
	checkDeployedFunctions(t, ctx, e.URL(), fnNames, esmUUID)
	var apiID string
	if err := json.Unmarshal(out["api_id"], &apiID); err != nil {
		t.Fatalf("api_id: %v", err)
	}
	checkDeployedRoutes(t, ctx, e.URL(), apiID)
	var restID, restStage string
	if err := json.Unmarshal(out["rest_api_id"], &restID); err != nil {
		t.Fatalf("rest_api_id: %v", err)
	}
	if err := json.Unmarshal(out["rest_api_stage"], &restStage); err != nil {
		t.Fatalf("rest_api_stage: %v", err)
	}
	checkDeployedREST(t, ctx, e.URL(), restID, restStage, fnNames["ingest"])

	timed("plan (idempotence)", func() error {
		changes, err := r.Plan(ctx, vars, true)
		if err == nil && changes {
			b, _ := os.ReadFile(r.LogPath())
			t.Errorf("second plan has changes:\n%s", tail(string(b), 4000))
		}
		return err
	})
	timed("destroy", func() error { return r.Destroy(ctx, vars) })
}

// checkDeployedFunctions reads the functions and the ESM back from the
// Lambda API, as the local cloud does.
func checkDeployedFunctions(t *testing.T, ctx context.Context, endpoint string, names map[string]string, esmUUID string) {
	t.Helper()
	c := lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	for _, fn := range functionNames {
		cfg, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(names[fn])})
		if err != nil {
			t.Fatalf("get %s: %v", fn, err)
		}
		var got []string
		if cfg.Environment != nil {
			for k := range cfg.Environment.Variables {
				got = append(got, k)
			}
		}
		sort.Strings(got)
		if d := diffSets(lambdaenv.ByFunction[fn], got); d != "" {
			t.Errorf("deployed %s environment: %s", fn, d)
		}
		if aws.ToString(cfg.Handler) != "bootstrap" || string(cfg.Runtime) != "provided.al2023" {
			t.Errorf("%s handler/runtime = %s/%s", fn, aws.ToString(cfg.Handler), cfg.Runtime)
		}
		if len(cfg.Architectures) != 1 || string(cfg.Architectures[0]) != "arm64" {
			t.Errorf("%s architectures = %v, want [arm64]", fn, cfg.Architectures)
		}
	}
	esm, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(esmUUID)})
	if err != nil {
		t.Fatalf("get esm: %v", err)
	}
	if !strings.HasSuffix(aws.ToString(esm.FunctionArn), ":"+names["fanout"]) {
		t.Errorf("esm function = %s, want fanout", aws.ToString(esm.FunctionArn))
	}
	if len(esm.FunctionResponseTypes) != 1 || string(esm.FunctionResponseTypes[0]) != "ReportBatchItemFailures" {
		t.Errorf("esm FunctionResponseTypes = %v", esm.FunctionResponseTypes)
	}
	if esm.BisectBatchOnFunctionError == nil || !*esm.BisectBatchOnFunctionError {
		t.Errorf("esm bisect not enabled")
	}
	if esm.DestinationConfig == nil || esm.DestinationConfig.OnFailure == nil || !strings.Contains(aws.ToString(esm.DestinationConfig.OnFailure.Destination), "fanout-failures") {
		t.Errorf("esm on-failure destination = %+v", esm.DestinationConfig)
	}
}

// checkDeployedRoutes reads the HTTP APIs back: the main one serves every
// ingest route without IAM auth, the SigV4 one the same routes with AWS_IAM.
func checkDeployedRoutes(t *testing.T, ctx context.Context, endpoint, apiID string) {
	t.Helper()
	c := apigatewayv2.New(apigatewayv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	want := []string{
		"PUT /v3/table/import/{db}/{table}/{format}",
		"PUT /v3/table/import_with_id/{db}/{table}/{unique_id}/{format}",
		"GET /v3/database/list",
		"GET /v3/table/list/{db}",
		"GET /v3/table/show/{db}/{table}",
		"POST /v3/database/create/{db}",
		"POST /v3/table/create/{db}/{table}",
		"POST /v3/table/create/{db}/{table}/{type}",
		"POST /v1/flush",
		"POST /{tag}",
	}
	apis, err := c.GetApis(ctx, &apigatewayv2.GetApisInput{})
	if err != nil {
		t.Fatalf("get apis: %v", err)
	}
	seen := map[string]bool{}
	for _, api := range apis.Items {
		id := aws.ToString(api.ApiId)
		wantAuth := "NONE"
		if id != apiID {
			wantAuth = "AWS_IAM"
		}
		seen[wantAuth] = true
		routes, err := c.GetRoutes(ctx, &apigatewayv2.GetRoutesInput{ApiId: api.ApiId})
		if err != nil {
			t.Fatalf("get routes of %s: %v", id, err)
		}
		var got []string
		for _, r := range routes.Items {
			got = append(got, aws.ToString(r.RouteKey))
			if string(r.AuthorizationType) != wantAuth {
				t.Errorf("api %s route %s authorization = %q, want %q", aws.ToString(api.Name), aws.ToString(r.RouteKey), r.AuthorizationType, wantAuth)
			}
		}
		if d := diffSets(want, got); d != "" {
			t.Errorf("api %s routes: %s", aws.ToString(api.Name), d)
		}
	}
	if !seen["NONE"] || !seen["AWS_IAM"] {
		t.Errorf("apis found: %v, want the main and the SigV4 one", seen)
	}
}

// checkDeployedREST reads the REST API front back as the local cloud does
// (apigw.RESTFromAPI): every body binary (*/*), ANY on the root and on
// {proxy+}, each an AWS_PROXY integration of ingest with a 29 s timeout, the
// stage deployed, and the access-log role set for the account.
func checkDeployedREST(t *testing.T, ctx context.Context, endpoint, apiID, stage, ingest string) {
	t.Helper()
	c := apigateway.New(apigateway.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	invokeFor := func(fn string) (apigw.InvokeFunc, error) {
		if fn != ingest {
			return nil, fmt.Errorf("integration calls %s, want %s", fn, ingest)
		}
		return func(context.Context, []byte) ([]byte, error) { return nil, nil }, nil
	}
	cfg, err := apigw.RESTFromAPI(ctx, c, apiID, stage, invokeFor)
	if err != nil {
		t.Fatalf("rest api: %v", err)
	}
	var keys []string
	for _, r := range cfg.Routes {
		keys = append(keys, r.Key)
		if r.Timeout != 29*time.Second {
			t.Errorf("rest api %s: timeout %s, want 29s", r.Key, r.Timeout)
		}
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "ANY /,ANY /{proxy+}" || strings.Join(cfg.BinaryMediaTypes, ",") != "*/*" {
		t.Errorf("rest api: resources %v, binary media types %v; want ANY / and ANY /{proxy+}, */*", keys, cfg.BinaryMediaTypes)
	}
	if _, err := c.GetStage(ctx, &apigateway.GetStageInput{RestApiId: aws.String(apiID), StageName: aws.String(stage)}); err != nil {
		t.Errorf("rest api stage %s: %v", stage, err)
	}
	acct, err := c.GetAccount(ctx, &apigateway.GetAccountInput{})
	if err != nil || !strings.HasSuffix(aws.ToString(acct.CloudwatchRoleArn), "-apigw-logs") {
		t.Errorf("account cloudwatch role %v: %v", acct, err)
	}
}
