// Package cloud owns bringing the whole Spillway pipeline up on one machine:
// moto behind the local edge, the real Terraform example applied through the
// edge, the functions' configuration read back through the AWS APIs, real
// bootstrap binaries run by the Lambda runner with exactly that
// configuration, the API Gateway front, the Kinesis event source mapping
// poller, the flush schedule and the TD import receiver. Close stops all of
// it; every child process runs in its own process group.
package cloud

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/local/apigw"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/esm"
	"github.com/spillwayhq/spillway/local/lambdarun"
	"github.com/spillwayhq/spillway/local/listen"
	"github.com/spillwayhq/spillway/local/schedule"
)

// Default listen addresses (docs/ARCHITECTURE.md, "Local defaults").
const (
	DefaultEdgeAddr = "127.0.0.1:4566"
	DefaultAPIAddr  = "127.0.0.1:4567"
	DefaultTDAddr   = "127.0.0.1:4568"
	DefaultRESTAddr = "127.0.0.1:4569"
)

// ErrPortInUse is returned by Start when one of the listen addresses is
// taken; the error names the address. It is listen.ErrPortInUse, the same
// value the edge and the TD receiver return.
var ErrPortInUse = listen.ErrPortInUse

// Outputs are the Terraform outputs of infra/terraform/examples/local.
type Outputs struct {
	APIID             string            `json:"api_id"`
	StreamName        string            `json:"stream_name"`
	StreamARN         string            `json:"stream_arn"`
	Bucket            string            `json:"bucket"`
	CatalogTable      string            `json:"catalog_table"`
	LedgerTable       string            `json:"ledger_table"`
	ManifestTable     string            `json:"manifest_table"`
	APIKeysTable      string            `json:"apikeys_table"`
	FunctionNames     map[string]string `json:"function_names"`
	ESMUUID           string            `json:"esm_uuid"`
	FlushRuleName     string            `json:"flush_rule_name"`
	TDAPIKeySecretARN string            `json:"td_apikey_secret_arn"`
	RESTAPIID         string            `json:"rest_api_id"`      // "" without the REST API front
	RESTAPIStage      string            `json:"rest_api_stage"`   // its stage
	LakeWarehouse     string            `json:"lake_warehouse"`   // "" when the lake is off
	AthenaWorkgroup   string            `json:"athena_workgroup"` // "" without one
}

// Function is what the AWS API reported for one deployed function.
type Function struct {
	Name     string
	Env      map[string]string
	Timeout  time.Duration
	MemoryMB int
	Runner   *lambdarun.Runner
}

// Cloud is a running local pipeline.
type Cloud struct {
	// EdgeURL, APIURL and TDURL are the base URLs of the AWS edge, the API
	// Gateway front and the TD receiver.
	EdgeURL, APIURL, TDURL string
	// RESTURL is the REST API front's URL, its stage included (the URL for
	// shippers that compress JSON bodies); "" when Terraform deployed none.
	RESTURL string
	// APIKey is a Spillway API key (all databases, read and write) created at
	// start; TDAPIKey is the TD receiver's key.
	APIKey, TDAPIKey string
	// DataDir holds logs/ and the receiver's td/ files.
	DataDir string
	// FunctionTmpDir is every function process's TMPDIR (<DataDir>/lambda-tmp,
	// emptied at start), so files a function leaves in os.TempDir(), such as
	// shared/fault's "@once" markers, stay with this cloud.
	FunctionTmpDir string
	// Outputs are what Terraform created.
	Outputs Outputs
	// Functions are the deployed functions by short name (ingest, fanout, flush).
	Functions map[string]*Function
	// Routes are the API's route keys as GetRoutes reported them.
	Routes []string
	// FlushSchedule is the flush rule's schedule expression.
	FlushSchedule string
	// AWS reaches the edge with test credentials.
	AWS aws.Config
	// Edge, TD, ESM and Schedule are the running components.
	Edge *edge.Server
	// API is the API Gateway front (its Usage counts requests and bytes).
	API      *apigw.Gateway
	TD       *tdtest.Server
	ESM      *esm.Poller
	Schedule *schedule.Scheduler

	log       *slog.Logger
	logFiles  []*os.File
	buildDir  string // Options.BuildDir or DefaultBuildDir
	cancel    context.CancelFunc
	bg        sync.WaitGroup
	closers   []func() error // run in reverse order by Close
	tmpData   string
	closeOnce sync.Once
	closeErr  error
}

func (c *Cloud) logFile(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(c.DataDir, "logs", name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", name, err)
	}
	c.logFiles = append(c.logFiles, f)
	return f, nil
}

func (c *Cloud) jsonLogger(name string) (*slog.Logger, error) {
	f, err := c.logFile(name)
	if err != nil {
		return nil, err
	}
	return slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})), nil
}

// Start brings the pipeline up. Everything is stopped when ctx ends or
// Close is called; on error, whatever had started is stopped.
func Start(ctx context.Context, opts Options) (*Cloud, error) {
	opts.applyDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	root := opts.RepoRoot
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working dir: %w", err)
		}
		if root, err = RepoRoot(wd); err != nil {
			return nil, err
		}
	}
	c := &Cloud{DataDir: opts.DataDir, Functions: map[string]*Function{}}
	if c.DataDir == "" {
		d, err := os.MkdirTemp("", "spillway-local-")
		if err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		c.DataDir = d
		if !opts.KeepData {
			c.tmpData = d
		}
	}
	for _, sub := range []string{"logs", "td", "moto"} {
		if err := os.MkdirAll(filepath.Join(c.DataDir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	// A kept DataDir may hold the previous run's function temp files.
	c.FunctionTmpDir = filepath.Join(c.DataDir, "lambda-tmp")
	if err := os.RemoveAll(c.FunctionTmpDir); err != nil {
		return nil, fmt.Errorf("clear function temp dir: %w", err)
	}
	if err := os.MkdirAll(c.FunctionTmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("create function temp dir: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.log = opts.Logger
	if c.log == nil {
		l, err := c.jsonLogger("cloud.log")
		if err != nil {
			cancel()
			return nil, err
		}
		c.log = l
	}
	startCtx, stop := context.WithTimeout(ctx, opts.StartTimeout)
	defer stop()
	if err := c.start(startCtx, runCtx, root, opts); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("local cloud: %w (logs in %s)", err, filepath.Join(c.DataDir, "logs"))
	}
	// Stop everything when the caller's context ends.
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		select {
		case <-ctx.Done():
			go func() { _ = c.Close() }()
		case <-runCtx.Done():
		}
	}()
	return c, nil
}
