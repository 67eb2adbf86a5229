package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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

// flushConcurrency is how many flush invocations run at once locally.
const flushConcurrency = 4

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
	restLn, err := listen.TCP("REST API front", opts.RESTAddr)
	if err != nil {
		return err
	}
	c.closers = append(c.closers, func() error { _ = restLn.Close(); return nil })

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

	e, err := edge.Start(runCtx, edge.Config{Addr: opts.EdgeAddr, Backend: mt.URL(), Faults: opts.Faults, Logger: edgeLog, TraceCalls: opts.TraceCalls})
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
	c.buildDir = buildDir
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
	maps.Copy(vars, opts.TerraformVars)
	if err := tf.Apply(ctx, vars); err != nil {
		// Seen once in about twenty starts: moto's answer to one create
		// call was cut short through the edge ("unexpected EOF"), cause not
		// found yet. Terraform resumes a partial apply from its state; a
		// resource created but not recorded is left unused in moto (the
		// cloud reads the mapping whose id Terraform outputs).
		c.log.Warn("terraform apply failed; applying once more", "err", err)
		if err2 := tf.Apply(ctx, vars); err2 != nil {
			return fmt.Errorf("terraform apply (twice): %w; first: %v", err2, err)
		}
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

	fanoutConcurrency, err := c.fanoutConcurrency(ctx, cfg, mapping)
	if err != nil {
		return err
	}

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
		switch short {
		case "ingest":
			conc = opts.IngestConcurrency
		case "fanout":
			// Lambda runs one batch per shard and lane at once.
			conc = fanoutConcurrency
		case "flush":
			// Flush runs concurrently on AWS (reserved concurrency 10 by
			// default): a scheduled run sweeping for 50 s must not hold up
			// the runs fanout asks for.
			conc = flushConcurrency
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
	c.API = gw
	c.serveHTTP(apiLn, gw)
	c.APIURL = "http://" + apiLn.Addr().String()
	if err := c.serveREST(ctx, cfg, restLn, apiLog); err != nil {
		return err
	}

	// Kinesis event source mapping.
	esmLog, err := c.jsonLogger("esm.log")
	if err != nil {
		return err
	}
	ecfg := esm.FromMapping(mapping)
	ecfg.Invoke = c.Functions["fanout"].Runner.Invoke
	// The poller is Lambda's (AWS-managed): it signs with its own key so
	// that the edge counts its polling apart from the functions' calls.
	esmAWS := cfg.Copy()
	esmAWS.Credentials = credentials.NewStaticCredentialsProvider(ESMAccessKey, "test", "")
	ecfg.Kinesis = kinesis.NewFromConfig(esmAWS)
	ecfg.SQS = sqs.NewFromConfig(esmAWS)
	ecfg.S3 = s3.NewFromConfig(esmAWS, func(o *s3.Options) { o.UsePathStyle = true })
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

// fanoutConcurrency is the number of fanout batches Lambda runs at once for
// the mapping: open shards x ParallelizationFactor.
func (c *Cloud) fanoutConcurrency(ctx context.Context, cfg aws.Config, m *lambda.GetEventSourceMappingOutput) (int, error) {
	out, err := kinesis.NewFromConfig(cfg).DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(c.Outputs.StreamName)})
	if err != nil {
		return 0, fmt.Errorf("describe stream %s: %w", c.Outputs.StreamName, err)
	}
	shards := max(1, int(aws.ToInt32(out.StreamDescriptionSummary.OpenShardCount)))
	return shards * max(1, int(aws.ToInt32(m.ParallelizationFactor))), nil
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
