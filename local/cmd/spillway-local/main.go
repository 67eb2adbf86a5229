// Command spillway-local runs the Spillway pipeline on this machine.
//
//	spillway-local up   [flags]   bring the local cloud up, print endpoints and env, wait for Ctrl-C
//	spillway-local wait [flags]   wait until an `up` with the same -state-dir is ready
//	spillway-local demo [flags]   bring it up, replay the 10k Apache corpus, flush, show where the data landed, stop
//	spillway-local replay [flags] run your forwarder config over your logs, check expectations (docs/REPLAY_IN_CI.md)
//
// replay exits 1 when an expectation failed and 2 when it could not run.
//
// Ctrl-C (SIGINT) or SIGTERM at any moment stops every child process and
// frees every port.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/shared/atomicfile"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "spillway-local:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: spillway-local up|wait|demo|replay [flags]   (spillway-local <cmd> -h for flags)")
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("no command")
	}
	switch args[0] {
	case "up":
		return up(args[1:], stdout, stderr)
	case "wait":
		return wait(args[1:], stderr)
	case "demo":
		return demo(args[1:], stdout, stderr)
	case "replay":
		return replayCmd(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

// cloudFlags are the flags up, demo and replay share.
type cloudFlags struct {
	opts        cloud.Options
	faultsFile  string
	faultPoints faultPointFlag
	tfvars      string
}

func (f *cloudFlags) register(fs *flag.FlagSet) {
	d := cloud.DefaultOptions()
	fs.StringVar(&f.opts.EdgeAddr, "edge", d.EdgeAddr, "AWS edge listen address (127.0.0.1:0 = free port)")
	fs.StringVar(&f.opts.APIAddr, "api", d.APIAddr, "API Gateway front listen address")
	fs.StringVar(&f.opts.RESTAddr, "rest-api", d.RESTAddr, "REST API front listen address")
	fs.StringVar(&f.opts.TDAddr, "td", d.TDAddr, "TD import receiver listen address")
	fs.StringVar(&f.opts.DataDir, "data-dir", "", "directory for logs and state (default: a temp dir removed on exit)")
	fs.StringVar(&f.opts.BuildDir, "build-dir", "", "directory for built Lambda zips and binaries (default: user cache)")
	fs.BoolVar(&f.opts.NoBuild, "no-build", false, "use the zips and binaries already in -build-dir")
	fs.DurationVar(&f.opts.FlushPeriod, "flush-period", 0, "fire the flush schedule at this period instead of the deployed expression")
	fs.StringVar(&f.faultsFile, "faults", "", "YAML/JSON file of edge fault rules")
	f.faultPoints = faultPointFlag{}
	fs.StringVar(&f.tfvars, "tfvars", "", "a .tfvars file for the deployment of infra/terraform/examples/local (its endpoint and TD settings stay the local ones)")
	fs.Var(f.faultPoints, "fault-point", "crash a function at a step: fn=point[@once][,...] (fanout or flush; repeatable; see local/README.md)")
}

func (f *cloudFlags) options() (cloud.Options, error) {
	o := f.opts
	if f.faultsFile != "" {
		fc, err := edge.LoadFaults(f.faultsFile)
		if err != nil {
			return o, err
		}
		o.Faults = fc
	}
	o.FunctionEnv = f.faultPoints.env()
	if err := setTFVars(f.tfvars); err != nil {
		return o, err
	}
	if o.DataDir != "" {
		o.KeepData = true
	}
	return o, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func up(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf cloudFlags
	cf.register(fs)
	stateDir := fs.String("state-dir", "", "write <dir>/env (export lines) once ready, for `wait` and shells")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts, err := cf.options()
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	fmt.Fprintln(stdout, "starting the local cloud (moto, edge, build, terraform apply, runners) ...")
	c, err := cloud.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	printEndpoints(stdout, c)
	var envFile string
	if *stateDir != "" {
		if err := os.MkdirAll(*stateDir, 0o700); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		envFile = filepath.Join(*stateDir, "env")
		if err := atomicfile.WriteFile(envFile, []byte(exportLines(c))); err != nil {
			return err
		}
		defer os.Remove(envFile)
	}
	fmt.Fprintln(stdout, "local cloud is up; Ctrl-C stops it")
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping ...")
	if err := c.Close(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "stopped")
	return nil
}

func exportLines(c *cloud.Cloud) string {
	var b strings.Builder
	for _, kv := range c.Env() {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%q\n", k, v)
	}
	return b.String()
}

func printEndpoints(w io.Writer, c *cloud.Cloud) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "AWS edge\t%s\t(fault control: %s/_spillway/faults)\n", c.EdgeURL, c.EdgeURL)
	fmt.Fprintf(tw, "API front\t%s\t(TD import API, in_http, /v1/flush)\n", c.APIURL)
	if c.RESTURL != "" {
		fmt.Fprintf(tw, "REST API front\t%s\t(the same routes; every body intact: compressed JSON from shippers)\n", c.RESTURL)
	}
	fmt.Fprintf(tw, "TD receiver\t%s\n", c.TDURL)
	fmt.Fprintf(tw, "data dir\t%s\t(logs/)\n", c.DataDir)
	_ = tw.Flush()
	fmt.Fprintln(w, "\nexport these to use the AWS CLI/SDKs and the API:")
	fmt.Fprint(w, exportLines(c))
}

func wait(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stateDir := fs.String("state-dir", ".local", "the -state-dir given to up")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	env := filepath.Join(*stateDir, "env")
	return cloud.WaitFor(ctx, 250*time.Millisecond, env, func(context.Context) (bool, error) {
		_, err := os.Stat(env)
		return err == nil, nil
	})
}
