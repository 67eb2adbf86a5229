// Package costrun measures what ingesting a corpus costs in AWS's billing
// units: it replays the corpus through a running local cloud with the real
// forwarder (local/replay) and reads back what the pipeline's own calls
// counted at the edge (requests and billing units), what the Lambda runner
// billed per function, the API front's requests, the bytes the functions
// logged and what the lake gained, plus one scheduled flush run on the
// idle deployment. Its Measurement is what `spillway cost` prices.
//
// The harness's own reads (catalog polls, S3 listings, the deployment's
// description) are signed with HarnessAccessKey, so the edge counts them
// apart from the pipeline's calls (PipelineAccessKey).
package costrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/local/apigw"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/lambdarun"
	"github.com/spillwayhq/spillway/local/replay"
	"github.com/spillwayhq/spillway/shared/layout"
)

// Access keys the edge tells callers apart by.
const (
	// PipelineAccessKey signs the functions' and the ESM poller's calls
	// (the key local/cloud gives them).
	PipelineAccessKey = "test"
	// HarnessAccessKey signs the measurement's own reads.
	HarnessAccessKey = "spillway-harness"
)

// firehoseRecordBytes is the size Firehose rounds each record up to.
const firehoseRecordBytes = 5 * 1024

// DefaultForwarderConfig is the forwarder configuration a corpus is
// replayed with when the user gives none: Apache combined lines (the
// apache2 parser), tag td.www.access, the forwarder's default buffer
// (8 MiB chunks, 10 s flush interval). The tail path is replaced by the
// corpus.
const DefaultForwarderConfig = `# spillway cost: the default forwarder configuration (Apache combined logs).
log: {level: info}
sources:
  tail:
    - name: corpus
      path: ["corpus.log"]
      tag: td.www.access
      parse: {type: apache2}
output:
  primary: {url: https://ingest.example.com, api_key_file: /etc/spillway/apikey}
`

// Options configures Measure.
type Options struct {
	// Corpus is the log file replayed.
	Corpus string
	// ForwarderConfig is the user's forwarder.yaml (its tail paths are
	// replaced by Corpus); empty: DefaultForwarderConfig.
	ForwarderConfig string
	// WorkDir receives the forwarder's config, state and log.
	WorkDir string
	// ForwarderBin is a built spillway-forwarder; empty: built from RepoRoot.
	ForwarderBin string
	// RepoRoot is the Spillway module root.
	RepoRoot string
	// Logger receives progress; default: discarded.
	Logger *slog.Logger
}

// Measure replays o.Corpus through c and returns what it counted. It turns
// the edge's metering (edge.Config.Metering) on while it runs.
func Measure(ctx context.Context, c *cloud.Cloud, o Options) (Measurement, error) {
	c.Edge.SetMetering(true)
	defer c.Edge.SetMetering(false)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := Measurement{Corpus: o.Corpus}
	if err := corpusStats(o.Corpus, &m); err != nil {
		return m, err
	}
	hcfg, err := harnessConfig(ctx, c.EdgeURL)
	if err != nil {
		return m, err
	}
	if m.Deployment, err = describe(ctx, c, hcfg); err != nil {
		return m, err
	}

	// One scheduled flush run on the idle deployment (after the runs
	// already queued).
	before, err := quiet(ctx, c)
	if err != nil {
		return m, err
	}
	if err := c.Schedule.Fire(ctx); err != nil {
		return m, fmt.Errorf("fire the flush schedule: %w", err)
	}
	idle, err := quiet(ctx, c)
	if err != nil {
		return m, err
	}
	m.IdleFlush = idle.since(before).usage()
	m.IdleFlushCalls = idle.since(before).list(PipelineAccessKey)
	log.Info("cost: idle flush run measured", "gb_s", m.IdleFlush.Functions["flush"].GBSeconds(0))

	// The replay.
	cfgPath := o.ForwarderConfig
	if cfgPath == "" {
		if err := os.MkdirAll(o.WorkDir, 0o700); err != nil {
			return m, fmt.Errorf("cost work dir: %w", err)
		}
		cfgPath = filepath.Join(o.WorkDir, "default-forwarder.yaml")
		if err := os.WriteFile(cfgPath, []byte(DefaultForwarderConfig), 0o600); err != nil {
			return m, fmt.Errorf("write default forwarder config: %w", err)
		}
	}
	target := replay.Target{
		Cloud: &cloud.Cloud{EdgeURL: c.EdgeURL, APIURL: c.APIURL, APIKey: c.APIKey, TDURL: c.TDURL, TDAPIKey: c.TDAPIKey, AWS: hcfg, Outputs: c.Outputs},
		TD: func(_ context.Context, db, table string) (int64, error) {
			return int64(c.TD.Count(db, table)), nil
		},
	}
	sealedBefore, err := listSizes(ctx, hcfg, c.Outputs.Bucket, layout.PrefixSealed)
	if err != nil {
		return m, err
	}
	start := idle // contiguous windows: no call falls between them
	obs, took, err := replay.Run(ctx, target, replay.Options{ForwarderConfig: cfgPath, Logs: []string{o.Corpus},
		WorkDir: filepath.Join(o.WorkDir, "replay"), ForwarderBin: o.ForwarderBin, RepoRoot: o.RepoRoot, Logger: log})
	if err != nil {
		return m, fmt.Errorf("replay %s: %w", o.Corpus, err)
	}
	if obs.NotSettled != "" {
		return m, fmt.Errorf("replay %s did not settle: %s", o.Corpus, obs.NotSettled)
	}
	end, err := quiet(ctx, c)
	if err != nil {
		return m, err
	}
	m.ReplaySeconds = took.Seconds()
	d := end.since(start)
	m.Replay = d.usage()
	m.Calls = d.list(PipelineAccessKey)
	m.ESMCalls = d.list(cloud.ESMAccessKey)
	m.ScheduledRuns = d.fired
	for _, t := range obs.Tables {
		m.Events += t.Catalog
		m.Tables++
	}
	sealedAfter, err := listSizes(ctx, hcfg, c.Outputs.Bucket, layout.PrefixSealed)
	if err != nil {
		return m, err
	}
	for k, n := range sealedAfter {
		if _, ok := sealedBefore[k]; !ok {
			m.SealedObjects++
			m.SealedBytes += n
		}
	}
	return m, m.Validate()
}

// corpusStats counts the corpus's lines and bytes, and its size as
// Firehose bills it with one line per record.
func corpusStats(path string, m *Measurement) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open corpus: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadSlice('\n')
		n := int64(len(line))
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.ReadSlice('\n')
			n += int64(len(line))
		}
		if n > 0 {
			m.Lines++
			m.RawBytes += n
			m.FirehoseRecordBytes += (n + firehoseRecordBytes - 1) / firehoseRecordBytes * firehoseRecordBytes
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read corpus: %w", err)
		}
	}
}

// harnessConfig reaches the edge signed with HarnessAccessKey.
func harnessConfig(ctx context.Context, edgeURL string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(HarnessAccessKey, "test", "")),
		config.WithBaseEndpoint(edgeURL))
	if err != nil {
		return aws.Config{}, fmt.Errorf("harness aws config: %w", err)
	}
	return cfg, nil
}

// describe reads what was deployed: the stream's mode and shards, the
// flush schedule's runs a month, alarms and dashboards.
func describe(ctx context.Context, c *cloud.Cloud, cfg aws.Config) (Deployment, error) {
	d := Deployment{FlushSchedule: c.FlushSchedule}
	sum, err := kinesis.NewFromConfig(cfg).DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(c.Outputs.StreamName)})
	if err != nil {
		return d, fmt.Errorf("describe stream %s: %w", c.Outputs.StreamName, err)
	}
	d.KinesisMode = "PROVISIONED"
	if s := sum.StreamDescriptionSummary; s != nil {
		if s.StreamModeDetails != nil && s.StreamModeDetails.StreamMode != "" {
			d.KinesisMode = string(s.StreamModeDetails.StreamMode)
		}
		d.Shards = int(aws.ToInt32(s.OpenShardCount))
	}
	if d.Alarms, d.Dashboards, err = countAlarms(ctx, cfg, c.EdgeURL); err != nil {
		return d, err
	}
	// Runs in one day of the schedule, times the days of a month.
	t0 := time.Now().UTC().Truncate(time.Hour)
	runs := 0
	for t := c.Schedule.Next(t0); t.Before(t0.Add(24*time.Hour)) && runs < 1_000_000; t = c.Schedule.Next(t) {
		runs++
	}
	d.FlushRunsPerMonth = float64(runs) * 730 / 24
	return d, nil
}

// listSizes lists the keys under prefix with their sizes.
func listSizes(ctx context.Context, cfg aws.Config, bucket, prefix string) (map[string]int64, error) {
	out := map[string]int64{}
	cl := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	return out, nil
}

// snapshot is the counters at one moment.
type snapshot struct {
	calls map[[3]string]edge.CallCount // by caller, service, operation
	fns   map[string]lambdarun.Billing
	logs  map[string]int64
	api   apigw.Usage
	fired int64
}

// quietTick is how long the pipeline's calls must stay unchanged for quiet.
const quietTick = time.Second

// quiet waits until the pipeline is idle and returns its snapshot: no
// queued flush run, and no call of the functions for one quietTick (the
// ESM poller reads the stream all the time, so its calls do not count). A
// fanout invocation still in flight when the flush queue drains can ask
// for one more flush run, whose calls belong to the measured window.
func quiet(ctx context.Context, c *cloud.Cloud) (snapshot, error) {
	flush := c.Functions["flush"].Runner
	t := time.NewTicker(quietTick)
	defer t.Stop()
	var last map[[3]string]edge.CallCount
	for {
		if err := flush.WaitAsync(ctx); err != nil {
			return snapshot{}, fmt.Errorf("wait for flush runs: %w", err)
		}
		s := take(c)
		calls := maps.Clone(s.calls)
		maps.DeleteFunc(calls, func(k [3]string, _ edge.CallCount) bool { return k[0] != PipelineAccessKey })
		if last != nil && maps.Equal(calls, last) {
			return s, nil
		}
		last = calls
		select {
		case <-ctx.Done():
			return snapshot{}, fmt.Errorf("wait for the pipeline to go quiet: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func take(c *cloud.Cloud) snapshot {
	s := snapshot{calls: map[[3]string]edge.CallCount{}, fns: map[string]lambdarun.Billing{}, logs: map[string]int64{}}
	for _, caller := range []string{PipelineAccessKey, cloud.ESMAccessKey} {
		for _, cc := range c.Edge.CallsBy(caller) {
			s.calls[[3]string{caller, cc.Service, cc.Operation}] = cc
		}
	}
	for short, f := range c.Functions {
		s.fns[short] = f.Runner.Billing()
		if st, err := os.Stat(filepath.Join(c.DataDir, "logs", short+".log")); err == nil {
			s.logs[short] = st.Size()
		}
	}
	s.api = c.API.Usage()
	s.fired = c.Schedule.Stats().Fired
	return s
}

// since is s less an earlier snapshot a.
func (s snapshot) since(a snapshot) snapshot {
	d := snapshot{calls: map[[3]string]edge.CallCount{}, fns: map[string]lambdarun.Billing{}, logs: map[string]int64{}}
	for k, c := range s.calls {
		if c = c.Since(a.calls[k]); c.Requests > 0 {
			d.calls[k] = c
		}
	}
	for k, b := range s.fns {
		p := a.fns[k]
		b.Invocations -= p.Invocations
		b.BilledMs -= p.BilledMs
		b.InitMs -= p.InitMs
		b.ColdStarts -= p.ColdStarts
		d.fns[k] = b
		d.logs[k] = s.logs[k] - a.logs[k]
	}
	d.api = apigw.Usage{Requests: s.api.Requests - a.api.Requests, MeteredRequests: s.api.MeteredRequests - a.api.MeteredRequests,
		RequestBytes: s.api.RequestBytes - a.api.RequestBytes, ResponseBytes: s.api.ResponseBytes - a.api.ResponseBytes}
	d.fired = s.fired - a.fired
	return d
}

// usage sums a snapshot difference into billing units.
func (d snapshot) usage() Usage {
	u := Usage{APIRequests: d.api.Requests, APIMeteredRequests: d.api.MeteredRequests, Functions: map[string]FunctionUsage{}}
	for short, b := range d.fns {
		u.Functions[short] = FunctionUsage{MemoryMB: b.MemoryMB, Invocations: b.Invocations, BilledMs: b.BilledMs, InitMs: b.InitMs, LogBytes: d.logs[short]}
	}
	var units edge.BillingUnits
	for _, c := range d.calls {
		units.Add(c.BillingUnits)
		switch c.S3Class {
		case "tier1":
			u.S3Tier1 += c.Requests
		case "tier2":
			u.S3Tier2 += c.Requests
		case "free":
			u.S3Free += c.Requests
		}
		if c.Service == "glue" {
			u.GlueRequests += c.Requests
		}
	}
	u.KinesisRecords, u.KinesisPayloadUnits, u.KinesisWrittenKB, u.KinesisReadBytes = units.KinesisRecords, units.KinesisPayloadUnits, units.KinesisWrittenKB, units.KinesisReadBytes
	u.DynamoDBReadUnits, u.DynamoDBWriteUnits = units.DynamoDBReadUnits, units.DynamoDBWriteUnits
	return u
}

// list is the difference's calls by one caller, sorted by service and
// operation.
func (d snapshot) list(caller string) []Call {
	out := make([]Call, 0, len(d.calls))
	for k, c := range d.calls {
		if k[0] != caller {
			continue
		}
		out = append(out, Call{Service: c.Service, Operation: c.Operation, Requests: c.Requests, RequestBytes: c.RequestBytes,
			ResponseBytes: c.ResponseBytes, ReadUnits: c.DynamoDBReadUnits, WriteUnits: c.DynamoDBWriteUnits})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Operation < out[j].Operation
	})
	return out
}
