package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spillwayhq/spillway/bench/forwarder/apachegen"
	"github.com/spillwayhq/spillway/cmd/spillway/internal/cost"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/costrun"
)

const costUsage = `usage: spillway cost [flags]

Replays a corpus through the local cloud (moto, the Terraform example, the
real functions and forwarder; run it from a clone of Spillway) twice: as
live traffic (every event timed when it is read) and as a backfill (the
corpus's own times). It counts the calls and billing units each made, and
prints $/TB by service at 10 GB, 1 TB and 50 TB a day next to Amazon Data
Firehose and a td-agent aggregator fleet, and what the knobs change. Lambda
duration is modelled (CPU time plus each AWS call at a documented AWS
latency), with the duration measured on moto as the upper bound. See
docs/COST.md.

flags:`

// costFlags are spillway cost's settings.
type costFlags struct {
	corpus, forwarderConfig, prices, latencies, format, measurement, save, repo, workDir string
	lines                                                                                int
	parquet, partitioning                                                                bool
}

func newCostFlags(out io.Writer) (*flag.FlagSet, *costFlags) {
	f := &costFlags{}
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { fmt.Fprintln(out, costUsage); fs.PrintDefaults() }
	fs.StringVar(&f.corpus, "corpus", "", "log file to replay (default: the demo's 10k Apache corpus, local/testdata/apache_combined_10k.log)")
	fs.IntVar(&f.lines, "lines", 0, "replay N generated Apache combined lines (seeded) instead of a corpus")
	fs.StringVar(&f.forwarderConfig, "forwarder-config", "", "your forwarder.yaml (parsers, buffer); its tail paths are replaced by the corpus (default: apache2 parser, default buffer)")
	fs.StringVar(&f.prices, "prices", "", "price file (default: the embedded "+cost.DefaultPricesFile+")")
	fs.StringVar(&f.latencies, "latencies", "", "AWS call latency file for the modelled Lambda duration (default: the embedded "+cost.DefaultLatenciesFile+")")
	fs.StringVar(&f.format, "format", "table", "output: table or json")
	fs.StringVar(&f.measurement, "measurement", "", "price a measurement saved with -save instead of replaying")
	fs.StringVar(&f.save, "save", "", "write the measurement to this file")
	fs.StringVar(&f.repo, "repo", "", "Spillway checkout (default: found above the working directory)")
	fs.StringVar(&f.workDir, "work-dir", "", "directory for the local cloud and the forwarder, kept: its cloud/logs/edge.log lists every AWS call, the windows' boundaries marked (default: a temp dir, removed)")
	fs.BoolVar(&f.parquet, "firehose-parquet", true, "price Firehose with Parquet format conversion (a queryable lake)")
	fs.BoolVar(&f.partitioning, "firehose-partitioning", true, "price Firehose with dynamic partitioning (db/table/dt/hour objects, like Spillway's)")
	return fs, f
}

// runCost runs spillway cost.
func runCost(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs, f := newCostFlags(out)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr(err)
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if f.format != "table" && f.format != "json" {
		return usageErr(fmt.Errorf("-format %q: want table or json", f.format))
	}
	if f.lines < 0 || (f.lines > 0 && f.corpus != "") || (f.measurement != "" && (f.lines > 0 || f.corpus != "")) {
		return usageErr(errors.New("give at most one of -corpus, -lines and -measurement"))
	}
	prices, err := cost.LoadPrices(f.prices)
	if err != nil {
		return usageErr(err)
	}
	latencies, err := cost.LoadLatencies(f.latencies)
	if err != nil {
		return usageErr(err)
	}
	var m costrun.Measurement
	if f.measurement != "" {
		if m, err = costrun.LoadMeasurement(f.measurement); err != nil {
			return usageErr(err)
		}
	} else if m, err = measure(ctx, f, log); err != nil {
		return err
	}
	if f.save != "" {
		if err := m.WriteFile(f.save); err != nil {
			return err
		}
	}
	opts := cost.DefaultOptions()
	opts.FirehoseParquet, opts.FirehosePartitioning = f.parquet, f.partitioning
	r := cost.NewReport(m, prices, latencies, opts, cost.DefaultScales())
	if f.format == "json" {
		return r.WriteJSON(out)
	}
	return r.WriteTable(out)
}

// measure starts the local cloud with the deployed settings and replays
// the corpus through it.
func measure(ctx context.Context, f *costFlags, log *slog.Logger) (costrun.Measurement, error) {
	root := f.repo
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return costrun.Measurement{}, err
		}
		if root, err = cloud.RepoRoot(wd); err != nil {
			return costrun.Measurement{}, usageErr(fmt.Errorf("spillway cost runs from a Spillway checkout (or give -repo): %w", err))
		}
	}
	work := f.workDir
	if work == "" {
		d, err := os.MkdirTemp("", "spillway-cost-")
		if err != nil {
			return costrun.Measurement{}, fmt.Errorf("work dir: %w", err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		return costrun.Measurement{}, fmt.Errorf("work dir: %w", err)
	}
	corpus := f.corpus
	switch {
	case f.lines > 0:
		corpus = filepath.Join(work, fmt.Sprintf("generated-%d.log", f.lines))
		if err := writeGenerated(corpus, f.lines); err != nil {
			return costrun.Measurement{}, err
		}
	case corpus == "":
		corpus = filepath.Join(root, "local", "testdata", "apache_combined_10k.log")
	}
	corpus, err := filepath.Abs(corpus)
	if err != nil {
		return costrun.Measurement{}, fmt.Errorf("corpus path: %w", err)
	}
	o := costCloudOptions(root, work)
	// A kept work dir keeps the edge's log of every call, with the
	// windows' boundaries marked: what the counts can be checked against.
	o.TraceCalls = f.workDir != ""
	log.Info("cost: starting the local cloud", "data_dir", o.DataDir)
	c, err := cloud.Start(ctx, o)
	if err != nil {
		return costrun.Measurement{}, err
	}
	defer c.Close()
	log.Info("cost: replaying", "corpus", corpus)
	return costrun.Measure(ctx, c, costrun.Options{Corpus: corpus, ForwarderConfig: f.forwarderConfig,
		WorkDir: filepath.Join(work, "replay"), RepoRoot: root, Logger: log})
}

// writeGenerated writes n seeded Apache combined lines to path.
func writeGenerated(path string, n int) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("generate corpus: %w", err)
	}
	if err := apachegen.Write(out, n, 1); err != nil {
		out.Close()
		return fmt.Errorf("generate corpus: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("generate corpus: %w", err)
	}
	return nil
}

// costCloudOptions is the local cloud a cost replay starts: on free
// ports (next to `make local-up` or another replay), under work.
func costCloudOptions(root, work string) cloud.Options {
	o := cloud.DefaultOptions()
	o.FreePorts()
	o.RepoRoot, o.DataDir, o.NamePrefix = root, filepath.Join(work, "cloud"), "spillway-cost"
	// Each function signs with its own key: the edge counts its calls
	// apart, for the modelled duration.
	o.FunctionEnv = costrun.FunctionAccessKeys()
	return o
}
