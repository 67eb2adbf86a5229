// Package costrun measures what ingesting a corpus costs in AWS's billing
// units: it replays the corpus through a running local cloud with the real
// forwarder (local/replay) and reads back what the pipeline's own calls
// counted at the edge (requests and billing units), what the Lambda runner
// billed per function (with the CPU time the functions used), the API
// front's requests, the bytes the functions logged and what the lake
// gained, plus one scheduled flush run on the idle deployment. It replays
// the corpus twice in one cloud, in contiguous windows: as live traffic
// (every event timed when the forwarder read it) and as a backfill (the
// corpus's own times). Its Measurement is what `spillway cost` prices.
//
// The harness's own reads (catalog polls, S3 listings, the deployment's
// description) are signed with HarnessAccessKey, so the edge counts them
// apart from the pipeline's calls (PipelineAccessKey, or one key per
// function when the cloud was started with FunctionAccessKeys).
package costrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/replay"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
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

// FunctionAccessKeys are the access keys `spillway cost` gives each
// function (through cloud.Options.FunctionEnv), so that the edge counts
// each function's calls apart; the cost model charges a function's
// modelled duration for its own calls.
func FunctionAccessKeys() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, short := range cloud.Functions {
		out[short] = map[string]string{"AWS_ACCESS_KEY_ID": "spillway-fn-" + short}
	}
	return out
}

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

// Measure replays o.Corpus through c twice, as live traffic and as a
// backfill, and returns what it counted. It turns the edge's metering
// (edge.Config.Metering) on while it runs.
func Measure(ctx context.Context, c *cloud.Cloud, o Options) (Measurement, error) {
	c.Edge.SetMetering(true)
	defer c.Edge.SetMetering(false)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := Measurement{Version: MeasurementVersion, Corpus: o.Corpus}
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
	backfillCfg, liveCfg, cfgData, err := forwarderConfigs(o)
	if err != nil {
		return m, err
	}

	// The warm-up: the corpus's first line, replayed as live traffic and
	// not priced, so that what happens once per table or execution
	// environment (the lake table's creation, the first cold starts) is
	// not scaled with the bytes of the windows.
	s0, err := quiet(ctx, c, "warmup start")
	if err != nil {
		return m, err
	}
	first := filepath.Join(o.WorkDir, "warmup.log")
	if err := firstLine(o.Corpus, first); err != nil {
		return m, err
	}
	warm := filepath.Join(o.WorkDir, "warmup-live.log")
	if wrote, err := LiveCorpus(first, warm, cfgData, time.Now()); err != nil {
		return m, err
	} else if !wrote {
		warm = first
	}
	if _, _, err := replayWindow(ctx, c, hcfg, o, "warmup", liveCfg, warm, s0, log); err != nil {
		return m, err
	}

	// One scheduled flush run on the idle deployment (after the runs
	// already queued).
	before, err := quiet(ctx, c, "idle flush start")
	if err != nil {
		return m, err
	}
	m.WarmupCalls = before.since(s0).list(c, functionKeys(c)...)
	if err := c.Schedule.Fire(ctx); err != nil {
		return m, fmt.Errorf("fire the flush schedule: %w", err)
	}
	idle, err := quiet(ctx, c, "idle flush end, "+WindowLive+" start")
	if err != nil {
		return m, err
	}
	d := idle.since(before)
	m.IdleFlush = d.usage(c)
	m.IdleFlushCalls = d.list(c, functionKeys(c)...)
	log.Info("cost: idle flush run measured", "gb_s", m.IdleFlush.Functions["flush"].GBSeconds(0))

	// The two replays, in contiguous windows: no call falls between them.
	start := idle
	for _, w := range []struct {
		name, cfg string
		into      **Window
	}{{WindowLive, liveCfg, &m.Live}, {WindowBackfill, backfillCfg, &m.Backfill}} {
		corpus := o.Corpus
		if w.name == WindowLive {
			// The replay clock: the copy is written just before the replay.
			live := filepath.Join(o.WorkDir, "live-corpus.log")
			wrote, err := LiveCorpus(o.Corpus, live, cfgData, time.Now())
			if err != nil {
				return m, err
			}
			if wrote {
				corpus = live
			}
		}
		win, end, err := replayWindow(ctx, c, hcfg, o, w.name, w.cfg, corpus, start, log)
		if err != nil {
			return m, err
		}
		*w.into, start = win, end
	}
	return m, m.Validate()
}

// forwarderConfigs writes the backfill (the user's or the default) and
// the live forwarder configurations into o.WorkDir.
func forwarderConfigs(o Options) (backfill, live string, data []byte, err error) {
	if err := os.MkdirAll(o.WorkDir, 0o700); err != nil {
		return "", "", nil, fmt.Errorf("cost work dir: %w", err)
	}
	backfill = o.ForwarderConfig
	data = []byte(DefaultForwarderConfig)
	if backfill == "" {
		backfill = filepath.Join(o.WorkDir, "default-forwarder.yaml")
		if err := os.WriteFile(backfill, data, 0o600); err != nil {
			return "", "", nil, fmt.Errorf("write default forwarder config: %w", err)
		}
	} else if data, err = os.ReadFile(backfill); err != nil {
		return "", "", nil, fmt.Errorf("read forwarder config: %w", err)
	}
	liveData, err := LiveForwarderConfig(data)
	if err != nil {
		return "", "", nil, err
	}
	// The corpus replaces the tail paths, so the live file can live in WorkDir.
	live = filepath.Join(o.WorkDir, "live-forwarder.yaml")
	if err := os.WriteFile(live, liveData, 0o600); err != nil {
		return "", "", nil, fmt.Errorf("write live forwarder config: %w", err)
	}
	return backfill, live, data, nil
}

// replayWindow replays the corpus with one forwarder configuration and
// measures the window from start until the pipeline is quiet again.
func replayWindow(ctx context.Context, c *cloud.Cloud, hcfg aws.Config, o Options, name, cfgPath, corpus string, start snapshot, log *slog.Logger) (*Window, snapshot, error) {
	target := replay.Target{
		Cloud: &cloud.Cloud{EdgeURL: c.EdgeURL, APIURL: c.APIURL, APIKey: c.APIKey, TDURL: c.TDURL, TDAPIKey: c.TDAPIKey, AWS: hcfg, Outputs: c.Outputs},
		TD: func(_ context.Context, db, table string) (int64, error) {
			return int64(c.TD.Count(db, table)), nil
		},
	}
	sealedBefore, err := listSizes(ctx, hcfg, c.Outputs.Bucket, layout.PrefixSealed)
	if err != nil {
		return nil, start, err
	}
	log.Info("cost: replaying", "window", name, "corpus", corpus)
	obs, took, err := replay.Run(ctx, target, replay.Options{ForwarderConfig: cfgPath, Logs: []string{corpus},
		WorkDir: filepath.Join(o.WorkDir, "replay-"+name), ForwarderBin: o.ForwarderBin, RepoRoot: o.RepoRoot, Logger: log})
	if err != nil {
		return nil, start, fmt.Errorf("replay %s (%s): %w", o.Corpus, name, err)
	}
	if obs.NotSettled != "" {
		return nil, start, fmt.Errorf("replay %s (%s) did not settle: %s", o.Corpus, name, obs.NotSettled)
	}
	end, err := quiet(ctx, c, name+" end")
	if err != nil {
		return nil, start, err
	}
	d := end.since(start)
	w := &Window{Name: name, ReplaySeconds: took.Seconds(), Replay: d.usage(c), Calls: d.list(c, functionKeys(c)...),
		ESMCalls: d.list(c, cloud.ESMAccessKey), ScheduledRuns: d.fired}
	for _, t := range obs.Tables {
		w.Events += t.Catalog
		w.Tables++
	}
	for _, call := range w.Calls {
		if call.Service == "s3" && call.Operation == "PutObject" && call.Resource == strings.TrimSuffix(layout.PrefixManifests, "/") {
			w.Seals += call.Requests
		}
	}
	sealedAfter, err := listSizes(ctx, hcfg, c.Outputs.Bucket, layout.PrefixSealed)
	if err != nil {
		return nil, start, err
	}
	parts := map[layout.Partition]bool{}
	for k, n := range sealedAfter {
		if _, ok := sealedBefore[k]; ok {
			continue
		}
		w.SealedObjects++
		w.SealedBytes += n
		if so, err := layout.ParseSealedKey(k); err == nil {
			parts[so.Partition] = true
		}
	}
	w.SealedPartitions = len(parts)
	log.Info("cost: window measured", "window", name, "events", w.Events, "sealed_partitions", w.SealedPartitions)
	return w, end, nil
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
	return d, cadence(c, &d)
}

// cadence reads the sealing cadence the functions were deployed with.
func cadence(c *cloud.Cloud, d *Deployment) error {
	env := func(short, name string) string {
		if f := c.Functions[short]; f != nil {
			return f.Env[name]
		}
		return ""
	}
	for _, v := range []struct {
		short, name string
		into        *float64
	}{{"fanout", lambdaenv.SealAfter, &d.SealAfterSeconds}, {"flush", lambdaenv.SweepEvery, &d.SweepEverySeconds}} {
		if s := env(v.short, v.name); s != "" {
			dur, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("deployed %s of %s: %w", v.name, v.short, err)
			}
			*v.into = dur.Seconds()
		}
	}
	if s := env("flush", lambdaenv.SealTargetBytes); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("deployed %s of flush: %w", lambdaenv.SealTargetBytes, err)
		}
		d.SealTargetBytes = n
	}
	return nil
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
