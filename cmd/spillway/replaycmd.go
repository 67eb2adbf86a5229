package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/spillwayhq/spillway/cmd/spillway/internal/replay"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

// envQueueURL names the on-failure queue URL (the CLI's own variable; no
// function reads it).
const envQueueURL = "SPILLWAY_ON_FAILURE_QUEUE_URL"

const replayUsage = `usage: spillway replay [flags] <source>... [flags]

sources (each idempotent; "all" runs every one, on-failure first):
  on-failure  records the fanout event source mapping gave up on (SQS pointers) back into the stream
  records     quarantine/records/ Kinesis records back into the stream
  future      quarantine/future/ events, once no longer beyond the future limit, re-imported through the stream
  failed      failed/ TD imports re-imported into their endpoint with the same unique_id
  all         all of the above

Names not given by a flag come from the environment, then from -outputs
(terraform output -json).

flags:`

// runReplay runs spillway replay. clients, when not nil, replaces the
// clients built from the AWS configuration chain (tests).
func runReplay(ctx context.Context, args []string, out io.Writer, log *slog.Logger, clients *replay.Clients) error {
	cfg := replay.DefaultConfig()
	fs, outputsPath := newReplayFlags(&cfg, out)
	if v := os.Getenv(lambdaenv.FutureLimit); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return usageErr(fmt.Errorf("%s: %w", lambdaenv.FutureLimit, err))
		}
		cfg.FutureLimit = d
	}
	sources, err := parseInterleaved(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(sources) == 0 {
		return usageErr(errors.New("replay needs a source: on-failure, records, future, failed or all"))
	}
	if *outputsPath != "" {
		o, err := readOutputs(*outputsPath)
		if err != nil {
			return err
		}
		fill(&cfg.Bucket, o.Bucket)
		fill(&cfg.Stream, o.StreamName)
		fill(&cfg.QueueURL, o.QueueURL)
		fill(&cfg.TDSecret, o.TDAPIKeySecret)
	}
	var run []string
	var errs []error
	for _, s := range sources {
		list := []string{s}
		if s == "all" {
			list = replay.Sources
		}
		for _, src := range list {
			if slices.Contains(run, src) {
				continue
			}
			run = append(run, src)
			if err := cfg.Validate(src); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return usageErr(fmt.Errorf("%w\n(set the flags, their variables or -outputs)", err))
	}
	if clients == nil {
		c, err := newClients(ctx)
		if err != nil {
			return err
		}
		clients = &c
	}
	r := replay.New(cfg, *clients, out, replay.WithLogger(log))
	left := false
	for _, src := range run {
		res, err := r.Run(ctx, src)
		fmt.Fprintf(out, "%s: found %d, %s %d, left %d, waiting %d, missing records %d\n",
			src, res.Found, map[bool]string{true: "would replay", false: "replayed"}[cfg.DryRun], res.Replayed, res.Left, res.Waiting, res.Missing)
		if err != nil {
			return fmt.Errorf("replay %s: %w", src, err)
		}
		left = left || res.Left > 0 || res.Missing > 0
	}
	if left {
		return errLeft
	}
	return nil
}

// newReplayFlags declares replay's flags over cfg, with defaults from the
// environment; outputsPath receives -outputs.
func newReplayFlags(cfg *replay.Config, out io.Writer) (fs *flag.FlagSet, outputsPath *string) {
	fs = flag.NewFlagSet("spillway replay", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { fmt.Fprintln(out, replayUsage); fs.PrintDefaults() }
	fs.StringVar(&cfg.Bucket, "bucket", os.Getenv(lambdaenv.Bucket), "S3 bucket (env "+lambdaenv.Bucket+", output bucket)")
	fs.StringVar(&cfg.Stream, "stream", os.Getenv(lambdaenv.StreamName), "Kinesis stream name (env "+lambdaenv.StreamName+", output stream_name)")
	fs.StringVar(&cfg.QueueURL, "queue-url", os.Getenv(envQueueURL), "on-failure SQS queue URL (env "+envQueueURL+", output on_failure_queue_url)")
	fs.StringVar(&cfg.TDSecret, "td-secret", os.Getenv(lambdaenv.TDAPIKeySecret), "Secrets Manager id of the TD API keys (env "+lambdaenv.TDAPIKeySecret+", output td_apikey_secret_arn)")
	outputsPath = fs.String("outputs", os.Getenv(envOutputs), "`file` written by terraform output -json (env "+envOutputs+")")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "print what would be done and change nothing")
	fs.BoolVar(&cfg.Force, "force", false, "future: re-import objects still beyond the future limit; records: replay records that are not Spillway envelopes")
	fs.DurationVar(&cfg.FutureLimit, "future-limit", cfg.FutureLimit, "fanout's future limit (set it as SPILLWAY_FUTURE_LIMIT is set on fanout)")
	fs.BoolVar(&cfg.DeleteExpired, "delete-expired", false, "on-failure: delete messages whose records the stream no longer holds")
	return fs, outputsPath
}

// parseInterleaved parses flags placed before, between and after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		a := fs.Arg(0)
		switch a {
		case replay.SourceRecords, replay.SourceFuture, replay.SourceFailed, replay.SourceOnFailure, "all":
		default:
			return nil, fmt.Errorf("unknown source %q (on-failure, records, future, failed, all)", a)
		}
		pos = append(pos, a)
		args = fs.Args()[1:]
	}
}

// fill sets *dst to v when *dst is empty.
func fill(dst *string, v string) {
	if strings.TrimSpace(*dst) == "" {
		*dst = v
	}
}

// newClients builds the clients from the standard AWS configuration chain.
func newClients(ctx context.Context) (replay.Clients, error) {
	cfg, err := awsconf.Load(ctx)
	if err != nil {
		return replay.Clients{}, err
	}
	return replay.Clients{
		S3:      s3.NewFromConfig(cfg, awsconf.S3PathStyle),
		Kinesis: kinesis.NewFromConfig(cfg),
		SQS:     sqs.NewFromConfig(cfg),
		Secrets: secretsmanager.NewFromConfig(cfg),
	}, nil
}
