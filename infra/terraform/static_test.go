package terraform_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

const (
	modulePath = "github.com/spillwayhq/spillway"
	moduleDir  = "modules/spillway"
	repoRoot   = "../.."
)

// functionNames are the functions `make build` packages.
var functionNames = []string{"ingest", "fanout", "flush"}

// exampleDirs lists every example root module.
func exampleDirs(tb testing.TB) []string {
	tb.Helper()
	dirs, err := filepath.Glob("examples/*")
	if err != nil || len(dirs) == 0 {
		tb.Fatalf("no examples: %v", err)
	}
	sort.Strings(dirs)
	return dirs
}

// wantErr checks err against the substrings it must mention (none: err must be nil).
func wantErr(tb testing.TB, err error, mentions []string) {
	tb.Helper()
	if len(mentions) == 0 {
		if err != nil {
			tb.Fatalf("unexpected error:\n%v", err)
		}
		return
	}
	if err == nil {
		tb.Fatalf("no error, want one mentioning %q", mentions)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			tb.Errorf("error does not mention %q:\n%v", m, err)
		}
	}
}

func TestEnvironmentMatchesLambdaenv(t *testing.T) {
	tests := []struct {
		name     string
		dir      string
		mentions []string
	}{
		{name: "module", dir: moduleDir},
		{name: "fixture mismatch", dir: "testdata/bad/env", mentions: []string{"fanout environment: missing [SPILLWAY_LEDGER_TABLE]", "ingest environment: missing [], unexpected [SPILLWAY_TYPO]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, checkEnvironment(parseModule(t, tc.dir), lambdaenv.ByFunction), tc.mentions)
		})
	}
}

// makeBuildZips lists dist/<name>-<arch>.zip for every function and arch, as
// docs/ARCHITECTURE.md and the Makefile define them.
func makeBuildZips() []string {
	var out []string
	for _, fn := range functionNames {
		for _, arch := range []string{"arm64", "amd64"} {
			out = append(out, fmt.Sprintf("dist/%s-%s.zip", fn, arch))
		}
	}
	sort.Strings(out)
	return out
}

func TestZipPathsMatchMakeBuild(t *testing.T) {
	tests := []struct {
		name     string
		dir      string
		mentions []string
	}{
		{name: "module", dir: moduleDir},
		{name: "fixture mismatch", dir: "testdata/bad/zip", mentions: []string{"dist/ingest-arm64.zip", "dist/ingest_aarch64.zip"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := zipPaths(parseModule(t, tc.dir), "dist")
			if err != nil {
				t.Fatal(err)
			}
			var diffErr error
			if d := diffSets(makeBuildZips(), got); d != "" {
				diffErr = fmt.Errorf("zip paths: %s", d)
			}
			wantErr(t, diffErr, tc.mentions)
		})
	}
}

func TestVariablesAndOutputsDocumented(t *testing.T) {
	type tcase struct {
		name     string
		dir      string
		mentions []string
	}
	tests := []tcase{{name: "module", dir: moduleDir}}
	for _, d := range exampleDirs(t) {
		tests = append(tests, tcase{name: d, dir: d})
	}
	tests = append(tests, tcase{name: "fixture undocumented", dir: "testdata/bad/docs", mentions: []string{
		`variable "no_description" has no description`,
		`variable "no_type" has no type`,
		`variable "any_type" has type any`,
		`variable "empty_description" has an empty description`,
		`output "no_description" has no description`,
	}})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, checkDocumented(parseModule(t, tc.dir)), tc.mentions)
		})
	}
}

func TestGoCallsFixture(t *testing.T) {
	calls, err := sdkCalls([]goPackage{
		{ImportPath: "example.com/fixture/fn", Dir: "testdata/gocalls/fn"},
		{ImportPath: "example.com/fixture/dep", Dir: "testdata/gocalls/dep"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kinesis:PutRecords", "lambda:InvokeFunction", "s3:GetObject", "s3:ListBucket", "secretsmanager:GetSecretValue", "sqs:SendMessage"}
	if d := diffSets(want, calls); d != "" {
		t.Fatalf("calls %v: %s", calls, d)
	}
}

func TestIAMPolicyFixtureFails(t *testing.T) {
	calls := map[string][]string{
		"ingest": {"kinesis:PutRecords", "kinesis:DescribeStreamSummary"},
		"flush":  {"secretsmanager:GetSecretValue"},
	}
	err := checkPolicies(parseModule(t, "testdata/bad/iam"), calls)
	wantErr(t, err, []string{
		"ingest calls kinesis:PutRecords but its IAM policy does not allow it",
		`fanout statement "Objects": wildcard action "s3:*"`,
		`flush statement "Secret": wildcard resource "*"`,
	})
	// The module's own policies refuse a call no function is allowed.
	err = checkPolicies(parseModule(t, moduleDir), map[string][]string{"ingest": {"s3:DeleteObject"}})
	wantErr(t, err, []string{"ingest calls s3:DeleteObject"})
}

// platformActions are allowed without the Go code calling them: the Lambda
// runtime writes logs, the ESM reads the stream and sends to the on-failure
// queue with fanout's role, TransactWriteItems needs the item actions of its
// entries, and s3:ListBucket turns a missing key's 403 into 404.
var platformActions = map[string][]string{
	"ingest": {"logs:CreateLogStream", "logs:PutLogEvents"},
	"fanout": {"logs:CreateLogStream", "logs:PutLogEvents",
		"kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:ListStreams",
		"sqs:SendMessage", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"},
	// flush: shared/lake's iceberg-go calls Glue and its S3 file IO from
	// outside this module's SDK interfaces (iam.tf, LakeCatalog and
	// LakeObjects, lists them from iceberg-go's code).
	"flush": {"logs:CreateLogStream", "logs:PutLogEvents", "s3:ListBucket",
		"glue:GetDatabase", "glue:CreateDatabase", "glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "s3:AbortMultipartUpload"},
}

// unusedActions lists the actions of stmts in neither calls nor platform.
func unusedActions(stmts []policyStatement, calls, platform []string) []string {
	ok := map[string]bool{}
	for _, a := range calls {
		ok[a] = true
	}
	for _, a := range platform {
		ok[a] = true
	}
	var out []string
	for _, st := range stmts {
		for _, a := range st.actions {
			if !ok[a] {
				out = append(out, a)
			}
		}
	}
	return out
}

func TestUnusedActionsFixture(t *testing.T) {
	pols, err := functionPolicies(parseModule(t, "testdata/bad/iam"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		fn       string
		calls    []string
		platform []string
		want     []string
	}{
		{name: "extra action", fn: "ingest", want: []string{"kinesis:DescribeStreamSummary"}},
		{name: "called", fn: "ingest", calls: []string{"kinesis:DescribeStreamSummary"}},
		{name: "platform", fn: "flush", platform: []string{"secretsmanager:GetSecretValue"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := unusedActions(pols[tc.fn], tc.calls, tc.platform)
			if d := diffSets(tc.want, got); d != "" {
				t.Fatalf("unused %v: %s", got, d)
			}
		})
	}
}

func TestIAMPoliciesCoverGoCalls(t *testing.T) {
	m := parseModule(t, moduleDir)
	pols, err := functionPolicies(m)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string][]string{}
	for _, fn := range functionNames {
		t.Run(fn, func(t *testing.T) {
			pkgs, err := moduleDeps(repoRoot, "./functions/"+fn+"/cmd/bootstrap", modulePath)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sdkCalls(pkgs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				t.Fatalf("found no AWS SDK calls in %d packages of %s: the analysis is broken or the function declares no `var _ X = (*svc.Client)(nil)` checks", len(pkgs), fn)
			}
			calls[fn] = got
			t.Logf("%s calls %v", fn, got)
			// The other direction: nothing allowed that neither the Go code
			// nor the platform on the function's behalf needs.
			if extra := unusedActions(pols[fn], got, platformActions[fn]); len(extra) > 0 {
				t.Errorf("%s policy allows actions its code does not call (remove them, or list them in platformActions with the reason): %v", fn, extra)
			}
			wantErr(t, checkPolicies(m, map[string][]string{fn: got}), nil)
		})
	}
}
