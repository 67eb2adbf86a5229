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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spillwayhq/spillway/functions/ingest/apikeys"
	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/local/apigw"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/esm"
	"github.com/spillwayhq/spillway/local/lambdarun"
	"github.com/spillwayhq/spillway/local/listen"
	"github.com/spillwayhq/spillway/local/moto"
	"github.com/spillwayhq/spillway/local/schedule"
	"github.com/spillwayhq/spillway/local/tfrun"
)

// Default listen addresses (docs/ARCHITECTURE.md, "Local defaults").
const (
	DefaultEdgeAddr = "127.0.0.1:4566"
	DefaultAPIAddr  = "127.0.0.1:4567"
	DefaultTDAddr   = "127.0.0.1:4568"
)

// ErrPortInUse is returned by Start when one of the listen addresses is
// taken; the error names the address. It is listen.ErrPortInUse, the same
// value the edge and the TD receiver return.
var ErrPortInUse = listen.ErrPortInUse

// Options configures Start. Defaults come from DefaultOptions; use
// "127.0.0.1:0" for any address to pick a free port.
type Options struct {
	// EdgeAddr, APIAddr and TDAddr are the listen addresses of the AWS edge,
	// the API Gateway front and the TD import receiver.
	EdgeAddr, APIAddr, TDAddr string
	// DataDir receives logs (logs/), the TD receiver's files (td/), moto's
	// and Terraform's work dirs; default: a temp dir removed by Close.
	DataDir string
	// KeepData keeps a default temp DataDir after Close.
	KeepData bool
	// RepoRoot is the Spillway module root; default: found above the working
	// directory.
	RepoRoot string
	// BuildDir receives the built zips and binaries; default: a directory
	// per checkout under spillway-local in the user cache dir (reused
	// across runs of that checkout; see DefaultBuildDir).
	BuildDir string
	// NoBuild uses existing outputs instead of building: <BuildDir>/zips/
	// <fn>-arm64.zip and <BuildDir>/native/<fn>/bootstrap.
	NoBuild bool
	// NamePrefix prefixes every resource name.
	NamePrefix string
	// Faults are the edge's initial fault rules.
	Faults edge.FaultConfig
	// FlushPeriod, when set, fires the flush schedule at this period instead
	// of the deployed expression (local speed).
	FlushPeriod time.Duration
	// ESMPollInterval is the poller's wait after an empty GetRecords.
	ESMPollInterval time.Duration
	// IngestConcurrency is the number of ingest execution environments.
	IngestConcurrency int
	// FunctionEnv adds environment variables, by function short name
	// ("ingest", "fanout", "flush"), to what Terraform deployed: test hooks
	// such as SPILLWAY_FAULT_POINT. They override the deployed and the local
	// variables (TMPDIR, AWS_ENDPOINT_URL, ...), not the Lambda runtime ones.
	FunctionEnv map[string]map[string]string
	// StartTimeout bounds the whole start.
	StartTimeout time.Duration
	// Logger receives progress lines; default: JSON to <DataDir>/logs/cloud.log.
	Logger *slog.Logger
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		EdgeAddr: DefaultEdgeAddr, APIAddr: DefaultAPIAddr, TDAddr: DefaultTDAddr,
		NamePrefix: "spillway-local", ESMPollInterval: 200 * time.Millisecond,
		IngestConcurrency: 4, StartTimeout: 10 * time.Minute,
	}
}

func (o *Options) applyDefaults() {
	d := DefaultOptions()
	if o.EdgeAddr == "" {
		o.EdgeAddr = d.EdgeAddr
	}
	if o.APIAddr == "" {
		o.APIAddr = d.APIAddr
	}
	if o.TDAddr == "" {
		o.TDAddr = d.TDAddr
	}
	if o.NamePrefix == "" {
		o.NamePrefix = d.NamePrefix
	}
	if o.ESMPollInterval == 0 {
		o.ESMPollInterval = d.ESMPollInterval
	}
	if o.IngestConcurrency == 0 {
		o.IngestConcurrency = d.IngestConcurrency
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = d.StartTimeout
	}
}

// Validate reports every problem with the options.
func (o Options) Validate() error {
	var errs []error
	for _, a := range []struct{ field, v string }{{"EdgeAddr", o.EdgeAddr}, {"APIAddr", o.APIAddr}, {"TDAddr", o.TDAddr}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("cloud.Options.%s: %w", a.field, err))
		}
	}
	if err := o.Faults.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("cloud.Options.Faults: %w", err))
	}
	if o.FlushPeriod < 0 || o.ESMPollInterval < 0 || o.StartTimeout < 0 {
		errs = append(errs, errors.New("cloud.Options: durations must not be negative"))
	}
	if o.IngestConcurrency < 0 {
		errs = append(errs, errors.New("cloud.Options.IngestConcurrency: negative"))
	}
	fns := make([]string, 0, len(o.FunctionEnv))
	for fn := range o.FunctionEnv {
		fns = append(fns, fn)
	}
	sort.Strings(fns)
	for _, fn := range fns {
		known := false
		for _, f := range Functions {
			known = known || f == fn
		}
		if !known {
			errs = append(errs, fmt.Errorf("cloud.Options.FunctionEnv: unknown function %q (want one of %s)", fn, strings.Join(Functions, ", ")))
		}
		for k := range o.FunctionEnv[fn] {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				errs = append(errs, fmt.Errorf("cloud.Options.FunctionEnv[%q]: invalid variable name %q", fn, k))
			}
		}
	}
	return errors.Join(errs...)
}

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
	Edge     *edge.Server
	TD       *tdtest.Server
	ESM      *esm.Poller
	Schedule *schedule.Scheduler

	log       *slog.Logger
	logFiles  []*os.File
	cancel    context.CancelFunc
	bg        sync.WaitGroup
	closers   []func() error // run in reverse order by Close
	tmpData   string
	closeOnce sync.Once
	closeErr  error
}

// Env returns the variables a shell needs to reach the local cloud.
func (c *Cloud) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + c.EdgeURL,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=us-east-1",
		"SPILLWAY_API_URL=" + c.APIURL,
		"SPILLWAY_API_KEY=" + c.APIKey,
		"SPILLWAY_TD_RECEIVER_URL=" + c.TDURL,
		"SPILLWAY_TD_RECEIVER_KEY=" + c.TDAPIKey,
		"SPILLWAY_BUCKET=" + c.Outputs.Bucket,
		"SPILLWAY_CATALOG_TABLE=" + c.Outputs.CatalogTable,
		"SPILLWAY_STREAM_NAME=" + c.Outputs.StreamName,
	}
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

func (c *Cloud) step(name string, t0 time.Time) {
	c.log.Info("step done", "step", name, "elapsed_ms", time.Since(t0).Milliseconds())
}

func (c *Cloud) start(ctx, runCtx context.Context, root string, opts Options) error {
	// Claim the fixed ports first, so a taken port fails fast.
	apiLn, err := listen.TCP("API front", opts.APIAddr)
	if err != nil {
		return err
	}
	c.closers = append(c.closers, func() error { _ = apiLn.Close(); return nil })

	t0 := time.Now()
	edgeLog, err := c.jsonLogger("edge.log")
	if err != nil {
		return err
	}
	mt, err := moto.Start(runCtx, moto.Options{Dir: filepath.Join(c.DataDir, "moto")})
	if err != nil {
		return fmt.Errorf("start moto: %w", err)
	}
	c.closers = append(c.closers, mt.Close)
	c.step("moto", t0)

	e, err := edge.Start(runCtx, edge.Config{Addr: opts.EdgeAddr, Backend: mt.URL(), Faults: opts.Faults, Logger: edgeLog})
	if err != nil {
		return err
	}
	c.Edge, c.EdgeURL = e, e.URL()
	c.closers = append(c.closers, e.Close)

	tdLog, err := c.jsonLogger("tdreceiver.log")
	if err != nil {
		return err
	}
	tdLn, err := listen.TCP("td receiver", opts.TDAddr)
	if err != nil {
		return err
	}
	td, err := tdtest.Serve(runCtx, tdLn, tdtest.Config{Dir: filepath.Join(c.DataDir, "td"), AutoCreate: true, Logger: tdLog})
	if err != nil {
		return err
	}
	c.TD, c.TDURL, c.TDAPIKey = td, td.URL(), td.APIKey()
	c.closers = append(c.closers, td.Close)

	// Build.
	t0 = time.Now()
	buildLog, err := c.logFile("build.log")
	if err != nil {
		return err
	}
	buildDir := opts.BuildDir
	if buildDir == "" {
		buildDir = DefaultBuildDir(root)
	}
	var b builds
	if opts.NoBuild {
		b, err = prebuilt(filepath.Join(buildDir, "zips"), filepath.Join(buildDir, "native"))
	} else {
		b, err = buildFunctions(ctx, root, buildDir, buildLog)
	}
	if err != nil {
		return err
	}
	c.step("build", t0)

	// Terraform.
	t0 = time.Now()
	tfLog, err := c.jsonLogger("tfrun.log")
	if err != nil {
		return err
	}
	tf, err := tfrun.New(tfrun.Options{
		Source: filepath.Join(root, "infra", "terraform"), Module: "examples/local",
		WorkDir: filepath.Join(c.DataDir, "terraform"),
		LogPath: filepath.Join(c.DataDir, "logs", "terraform.log"), Logger: tfLog,
	})
	if err != nil {
		return fmt.Errorf("terraform: %w", err)
	}
	c.closers = append(c.closers, tf.Close)
	if err := tf.Init(ctx); err != nil {
		return fmt.Errorf("terraform init: %w", err)
	}
	vars := map[string]string{
		"endpoint":           c.EdgeURL,
		"name_prefix":        opts.NamePrefix,
		"lambda_package_dir": b.zipDir,
		"td_endpoints":       "[" + quoteHCL(c.TDURL) + "]",
		"td_apikeys":         "{" + quoteHCL(c.TDURL) + "=" + quoteHCL(c.TDAPIKey) + "}",
		"auto_create":        "true",
	}
	if err := tf.Apply(ctx, vars); err != nil {
		return fmt.Errorf("terraform apply: %w", err)
	}
	raw, err := tf.Output(ctx)
	if err != nil {
		return fmt.Errorf("terraform output: %w", err)
	}
	if err := decodeOutputs(raw, &c.Outputs); err != nil {
		return err
	}
	c.step("terraform", t0)

	// Read back what was deployed, as AWS would run it.
	t0 = time.Now()
	cfg, err := AWSConfig(ctx, c.EdgeURL)
	if err != nil {
		return err
	}
	c.AWS = cfg
	lc := lambda.NewFromConfig(cfg)
	for _, short := range Functions {
		name := c.Outputs.FunctionNames[short]
		if name == "" {
			return fmt.Errorf("terraform output function_names lacks %q", short)
		}
		fc, err := lc.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("get function configuration %s: %w", name, err)
		}
		f := &Function{Name: name, Env: map[string]string{}, Timeout: time.Duration(aws.ToInt32(fc.Timeout)) * time.Second, MemoryMB: int(aws.ToInt32(fc.MemorySize))}
		if fc.Environment != nil {
			for k, v := range fc.Environment.Variables {
				f.Env[k] = v
			}
		}
		c.Functions[short] = f
	}
	mapping, err := lc.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(c.Outputs.ESMUUID)})
	if err != nil {
		return fmt.Errorf("get event source mapping %s: %w", c.Outputs.ESMUUID, err)
	}
	routes, err := apigatewayv2.NewFromConfig(cfg).GetRoutes(ctx, &apigatewayv2.GetRoutesInput{ApiId: aws.String(c.Outputs.APIID)})
	if err != nil {
		return fmt.Errorf("get routes of api %s: %w", c.Outputs.APIID, err)
	}
	for _, r := range routes.Items {
		c.Routes = append(c.Routes, aws.ToString(r.RouteKey))
	}
	sort.Strings(c.Routes)
	rule, err := eventbridge.NewFromConfig(cfg).DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(c.Outputs.FlushRuleName)})
	if err != nil {
		return fmt.Errorf("describe rule %s: %w", c.Outputs.FlushRuleName, err)
	}
	c.FlushSchedule = aws.ToString(rule.ScheduleExpression)
	c.step("read back", t0)

	// Runners with exactly the deployed environment.
	t0 = time.Now()
	runLog, err := c.jsonLogger("lambdarun.log")
	if err != nil {
		return err
	}
	for _, short := range Functions {
		f := c.Functions[short]
		env := map[string]string{}
		for k, v := range f.Env {
			env[k] = v
		}
		env["AWS_ENDPOINT_URL"] = c.EdgeURL
		env["AWS_ACCESS_KEY_ID"] = "test"
		env["AWS_SECRET_ACCESS_KEY"] = "test"
		env["TMPDIR"] = c.FunctionTmpDir
		for k, v := range opts.FunctionEnv[short] {
			env[k] = v
		}
		conc := 1
		if short == "ingest" {
			conc = opts.IngestConcurrency
		}
		out, err := c.logFile(short + ".log")
		if err != nil {
			return err
		}
		r, err := lambdarun.New(lambdarun.Config{
			Name: f.Name, Binary: b.native[short], Env: env, Timeout: f.Timeout, MemoryMB: f.MemoryMB,
			Concurrency: conc, Logs: out, Logger: runLog,
		})
		if err != nil {
			return fmt.Errorf("lambda runner %s: %w", f.Name, err)
		}
		f.Runner = r
		c.closers = append(c.closers, r.Close)
	}
	if err := c.Functions["ingest"].Runner.Warm(ctx); err != nil {
		return fmt.Errorf("warm ingest: %w", err)
	}
	e.SetInvoker(runnerInvoker{c: c})
	c.step("runners", t0)

	// API Gateway front.
	keys := make([]apigw.Route, 0, len(c.Routes))
	for _, k := range c.Routes {
		keys = append(keys, apigw.Route{Key: k})
	}
	apiLog, err := c.jsonLogger("apigw.log")
	if err != nil {
		return err
	}
	gw, err := apigw.New(apigw.Config{Routes: keys, Invoke: c.Functions["ingest"].Runner.Invoke, APIID: c.Outputs.APIID, Logger: apiLog})
	if err != nil {
		return fmt.Errorf("api front: %w", err)
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 30 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(apiLn)
	}()
	c.APIURL = "http://" + apiLn.Addr().String()
	c.closers = append(c.closers, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		<-served
		return err
	})

	// Kinesis event source mapping.
	esmLog, err := c.jsonLogger("esm.log")
	if err != nil {
		return err
	}
	ecfg := esm.FromMapping(mapping)
	ecfg.Invoke = c.Functions["fanout"].Runner.Invoke
	ecfg.Kinesis = kinesis.NewFromConfig(cfg)
	ecfg.SQS = sqs.NewFromConfig(cfg)
	ecfg.S3 = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ecfg.PollInterval = opts.ESMPollInterval
	ecfg.Logger = esmLog
	p, err := esm.New(ecfg)
	if err != nil {
		return fmt.Errorf("event source mapping: %w", err)
	}
	c.ESM = p
	c.goRun(runCtx, "esm", p.Run)

	// Flush schedule.
	schedLog, err := c.jsonLogger("schedule.log")
	if err != nil {
		return err
	}
	flush := c.Functions["flush"].Runner
	s, err := schedule.New(schedule.Config{
		RuleName: c.Outputs.FlushRuleName, Expression: c.FlushSchedule, Period: opts.FlushPeriod,
		Invoke: func(_ context.Context, p []byte) error { return flush.InvokeAsync(p) }, Logger: schedLog,
	})
	if err != nil {
		return fmt.Errorf("flush schedule: %w", err)
	}
	c.Schedule = s
	c.goRun(runCtx, "schedule", s.Run)

	// An initial API key.
	store := &apikeys.Store{DB: dynamodb.NewFromConfig(cfg), Table: c.Outputs.APIKeysTable}
	key, _, err := store.Create(ctx, apikeys.NewSpec{Name: "local", Databases: []string{apikeys.AllDatabases}, CanWrite: true, CanRead: true, CanFlush: true})
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	c.APIKey = key
	c.log.Info("local cloud up", "edge", c.EdgeURL, "api", c.APIURL, "td", c.TDURL, "data_dir", c.DataDir)
	return nil
}

// goRun runs a component until the cloud stops; Close waits for it.
func (c *Cloud) goRun(ctx context.Context, name string, run func(context.Context) error) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			c.log.Error("component stopped", "component", name, "err", err)
		}
	}()
}

func decodeOutputs(raw map[string]json.RawMessage, out *Outputs) error {
	m := map[string]json.RawMessage{}
	for k, v := range raw {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("terraform outputs: %w", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("terraform outputs: %w", err)
	}
	var missing []string
	for name, v := range map[string]string{"api_id": out.APIID, "stream_name": out.StreamName, "bucket": out.Bucket,
		"catalog_table": out.CatalogTable, "apikeys_table": out.APIKeysTable, "esm_uuid": out.ESMUUID, "flush_rule_name": out.FlushRuleName} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("terraform outputs: missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// AWSConfig is an aws.Config that reaches the edge at url with the local
// test credentials.
func AWSConfig(ctx context.Context, url string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(url),
		config.WithHTTPClient(awsHTTPClient()),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return cfg, nil
}

// runnerInvoker routes the edge's Lambda Invoke calls to the runners.
type runnerInvoker struct{ c *Cloud }

func (ri runnerInvoker) runner(name string) (*lambdarun.Runner, error) {
	for _, f := range ri.c.Functions {
		if f.Name == name && f.Runner != nil {
			return f.Runner, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", name, edge.ErrUnknownFunction)
}

// Invoke runs a RequestResponse invocation.
func (ri runnerInvoker) Invoke(ctx context.Context, name string, payload []byte) (edge.InvokeResult, error) {
	r, err := ri.runner(name)
	if err != nil {
		return edge.InvokeResult{}, err
	}
	out, fnErr, err := r.InvokeLambda(ctx, payload)
	return edge.InvokeResult{Payload: out, FunctionError: fnErr}, err
}

// InvokeAsync queues an Event invocation with Lambda's retries.
func (ri runnerInvoker) InvokeAsync(_ context.Context, name string, payload []byte) error {
	r, err := ri.runner(name)
	if err != nil {
		return err
	}
	return r.InvokeAsync(payload)
}

// Close stops every component in reverse start order and, when DataDir was
// a temp dir, removes it. It is safe to call more than once.
func (c *Cloud) Close() error {
	c.closeOnce.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		var errs []error
		done := make(chan struct{})
		go func() { c.bg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			errs = append(errs, errors.New("background components did not stop within 30s"))
		}
		for i := len(c.closers) - 1; i >= 0; i-- {
			if err := c.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		for _, f := range c.logFiles {
			_ = f.Close()
		}
		if c.tmpData != "" {
			if err := os.RemoveAll(c.tmpData); err != nil {
				errs = append(errs, fmt.Errorf("remove data dir: %w", err))
			}
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

var _ io.Closer = (*Cloud)(nil)
