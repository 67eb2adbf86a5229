package cloud

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/spillwayhq/spillway/local/edge"
)

// Options configures Start. Defaults come from DefaultOptions; use
// "127.0.0.1:0" for any address to pick a free port.
type Options struct {
	// EdgeAddr, APIAddr and TDAddr are the listen addresses of the AWS edge,
	// the API Gateway front and the TD import receiver.
	EdgeAddr, APIAddr, TDAddr string
	// RESTAddr is the listen address of the REST API front (served when
	// the deployment has the REST API).
	RESTAddr string
	// DataDir receives logs (logs/), the TD receiver's files (td/), moto's
	// and Terraform's work dirs; default: a temp dir removed by Close.
	DataDir string
	// KeepData keeps a default temp DataDir after Close.
	KeepData bool
	// TraceCalls makes the edge log every AWS call it serves to
	// logs/edge.log (edge.Config.TraceCalls).
	TraceCalls bool
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
	// TerraformVars adds variables of infra/terraform/examples/local to the
	// apply (e.g. stream_shards, esm_parallelization_factor); they override
	// the cloud's own.
	TerraformVars map[string]string
	// StartTimeout bounds the whole start.
	StartTimeout time.Duration
	// Logger receives progress lines; default: JSON to <DataDir>/logs/cloud.log.
	Logger *slog.Logger
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		EdgeAddr: DefaultEdgeAddr, APIAddr: DefaultAPIAddr, TDAddr: DefaultTDAddr, RESTAddr: DefaultRESTAddr,
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
	if o.RESTAddr == "" {
		o.RESTAddr = d.RESTAddr
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

// listenAddr is one listen address field of Options.
type listenAddr struct {
	field string
	v     *string
}

// listenAddrs lists every listen address of o, by field name.
func (o *Options) listenAddrs() []listenAddr {
	return []listenAddr{{"EdgeAddr", &o.EdgeAddr}, {"APIAddr", &o.APIAddr}, {"TDAddr", &o.TDAddr}, {"RESTAddr", &o.RESTAddr}}
}

// FreePorts sets every listen address to a free loopback port, so that
// the cloud runs next to another one (tests, benchmarks, `spillway cost`
// next to `make local-up`).
func (o *Options) FreePorts() {
	for _, a := range o.listenAddrs() {
		*a.v = "127.0.0.1:0"
	}
}

// Validate reports every problem with the options.
func (o Options) Validate() error {
	var errs []error
	for _, a := range o.listenAddrs() {
		if _, _, err := net.SplitHostPort(*a.v); err != nil {
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
