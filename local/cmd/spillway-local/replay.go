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
	"strings"
	"time"

	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/replay"
	"github.com/spillwayhq/spillway/shared/atomicfile"
)

// Exit statuses of replay (see exitError).
const (
	exitExpectationsFailed = 1 // the replay ran and an expectation failed
	exitCannotRun          = 2 // bad flags, config or expectations, or the cloud failed
)

// exitError carries the process exit status main uses.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func cannotRun(err error) error { return &exitError{code: exitCannotRun, err: err} }

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// tfvarsEnv is how a .tfvars file reaches `terraform apply` of the local
// deployment: Terraform inserts TF_CLI_ARGS_apply right after the
// subcommand, so the local cloud's own -var values (endpoint, name_prefix,
// td_*, lambda_package_dir, auto_create), given after it, still win.
const tfvarsEnv = "TF_CLI_ARGS_apply"

// setTFVars points terraform apply at a .tfvars file (see tfvarsEnv).
func setTFVars(path string) error {
	if path == "" {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("-tfvars: %w", err)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("-tfvars: %w", err)
	}
	if err := os.Setenv(tfvarsEnv, strings.TrimSpace(os.Getenv(tfvarsEnv)+" -var-file="+abs)); err != nil {
		return fmt.Errorf("-tfvars: %w", err)
	}
	return nil
}

func replayCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf cloudFlags
	cf.register(fs)
	fwdConfig := fs.String("forwarder-config", "", "your forwarder.yaml (parsers, tags; output, state and positions are replaced)")
	var logs stringsFlag
	fs.Var(&logs, "logs", "log files to replay: GLOB (config with one tail source) or NAME=GLOB; repeatable; replaces the config's tail paths")
	expect := fs.String("expect", "", "expectations YAML (docs/REPLAY_IN_CI.md)")
	writeExp := fs.String("write-expectations", "", "write a starting expectations file from this run to FILE")
	junit := fs.String("junit", "", "also write a JUnit XML report to FILE")
	format := fs.String("format", "text", "report format on stdout: text or json")
	stateDir := fs.String("state-dir", "", "use the cloud `spillway-local up -state-dir DIR` started (reads DIR/env) instead of starting one")
	workDir := fs.String("work-dir", "", "directory for the forwarder's config, state and log (default: a new temp dir, kept)")
	timeout := fs.Duration("timeout", 20*time.Minute, "give up after this long")
	settle := fs.Duration("settle-timeout", 5*time.Minute, "how long the sinks may take to settle once the forwarder is drained")
	if err := fs.Parse(args); err != nil {
		return cannotRun(err)
	}
	var errs []error
	if *fwdConfig == "" {
		errs = append(errs, errors.New("-forwarder-config is required"))
	}
	if *expect == "" && *writeExp == "" {
		errs = append(errs, errors.New("give -expect FILE, -write-expectations FILE or both"))
	}
	if *format != "text" && *format != "json" {
		errs = append(errs, fmt.Errorf("-format: %q is neither text nor json", *format))
	}
	if *stateDir != "" && cf.tfvars != "" {
		errs = append(errs, errors.New("-tfvars applies when the cloud starts: give it to `spillway-local up`, not with -state-dir"))
	}
	if len(errs) > 0 {
		return cannotRun(errors.Join(errs...))
	}
	var exp replay.Expectations
	if *expect != "" {
		e, err := replay.LoadExpectations(*expect)
		if err != nil {
			return cannotRun(err)
		}
		exp = e
	}
	root, err := cloud.RepoRoot(".")
	if err != nil {
		return cannotRun(err)
	}
	if *workDir == "" {
		if *workDir, err = os.MkdirTemp("", "spillway-replay-"); err != nil {
			return cannotRun(fmt.Errorf("work dir: %w", err))
		}
	}
	ctx, stop := signalContext()
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var target replay.Target
	var startup time.Duration
	if *stateDir != "" {
		t, err := replay.FromEnvFile(ctx, filepath.Join(*stateDir, "env"))
		if err != nil {
			return cannotRun(fmt.Errorf("%w (is `spillway-local up -state-dir %s` running? see `spillway-local wait`)", err, *stateDir))
		}
		target = t
		fmt.Fprintf(stderr, "==> using the local cloud at %s (API %s)\n", t.Cloud.EdgeURL, t.Cloud.APIURL)
	} else {
		opts, err := cf.options()
		if err != nil {
			return cannotRun(err)
		}
		t0 := time.Now()
		fmt.Fprintln(stderr, "==> starting the local cloud (moto, edge, build, terraform apply, runners) ...")
		c, err := cloud.Start(ctx, opts)
		if err != nil {
			return cannotRun(err)
		}
		defer c.Close()
		startup = time.Since(t0)
		fmt.Fprintf(stderr, "    up in %s (data dir %s)\n", startup.Round(time.Second), c.DataDir)
		target = replay.FromCloud(c)
	}
	fmt.Fprintf(stderr, "==> replaying with %s (work dir %s) ...\n", *fwdConfig, *workDir)
	obs, took, err := replay.Run(ctx, target, replay.Options{
		ForwarderConfig: *fwdConfig, Logs: logs, WorkDir: *workDir, RepoRoot: root, SettleTimeout: *settle,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		return cannotRun(err)
	}
	if *writeExp != "" {
		b, err := replay.MarshalExpectations(replay.Suggest(obs))
		if err != nil {
			return cannotRun(err)
		}
		if err := atomicfile.WriteFile(*writeExp, b); err != nil {
			return cannotRun(err)
		}
		fmt.Fprintf(stderr, "==> wrote expectations to %s\n", *writeExp)
		if *expect == "" {
			exp = replay.Suggest(obs)
		}
	}
	rep := replay.NewReport(exp, obs)
	rep.Startup, rep.Replay = replay.Duration(startup), replay.Duration(took)
	if *junit != "" {
		f, err := os.Create(*junit)
		if err != nil {
			return cannotRun(fmt.Errorf("junit: %w", err))
		}
		werr := rep.WriteJUnit(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return cannotRun(werr)
		}
	}
	if *format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return cannotRun(err)
	}
	if !rep.Passed {
		return &exitError{code: exitExpectationsFailed, err: fmt.Errorf("replay: %d of %d expectations failed", rep.Failures, len(rep.Results))}
	}
	return nil
}
