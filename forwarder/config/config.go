// Package config owns the forwarder's configuration file: one YAML file,
// decoded strictly (unknown keys are errors), with defaults filled in one
// place and every problem reported at once with its field path.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/filter"
	"github.com/spillwayhq/spillway/forwarder/input/forwardin"
	"github.com/spillwayhq/spillway/forwarder/input/httpin"
	"github.com/spillwayhq/spillway/forwarder/output"
	"github.com/spillwayhq/spillway/forwarder/parser"
	"github.com/spillwayhq/spillway/forwarder/route"
	"github.com/spillwayhq/spillway/forwarder/tail"
)

// Config is the whole forwarder configuration.
type Config struct {
	// Log configures the forwarder's own log.
	Log Log `yaml:"log"`
	// StateDir holds the buffer (default <state_dir>/buffer) and position
	// files (default <state_dir>/pos/<name>.json).
	StateDir string `yaml:"state_dir"`
	// Sources are the inputs.
	Sources Sources `yaml:"sources"`
	// Buffer is the disk buffer.
	Buffer buffer.Config `yaml:"buffer"`
	// Output is where chunks are shipped: the output named "default".
	Output output.Config `yaml:"output"`
	// Outputs are further named outputs that routes select (td-agent's
	// copy when a route names several). Each has its own buffer in
	// <buffer.dir>-<name> (with the buffer section's settings), queue,
	// retries and standby.
	Outputs []output.Named `yaml:"outputs"`
	// Routes map event tags to tables and outputs, first match wins
	// (Fluentd's <match>). Empty: only td.<db>.<table> tags are stored.
	Routes []route.Route `yaml:"routes"`
	// DefaultTable, "db.table", stores the events no route accepts;
	// empty refuses them (counted as unroutable).
	DefaultTable string `yaml:"default_table"`
	// Filters rewrite or drop records between the parsers and the
	// buffer, in order, each for the tags its match accepts (Fluentd's
	// <filter>).
	Filters []filter.Config `yaml:"filters"`
	// Monitor is the monitoring endpoint.
	Monitor Monitor `yaml:"monitor"`
	// ShutdownTimeout bounds the shipping at SIGTERM/SIGINT; what is not
	// shipped by then stays on disk.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Log configures the forwarder's own log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	File   string `yaml:"file"`   // empty = stderr; SIGHUP reopens it
	Format string `yaml:"format"` // json (default: one JSON object a line) or text (key=value)
}

// Sources lists the inputs.
type Sources struct {
	Tail    []tail.Config     `yaml:"tail"`
	HTTP    *httpin.Config    `yaml:"http"`
	Forward *forwardin.Config `yaml:"forward"`
}

// Monitor configures the monitoring endpoint (/metrics, /healthz,
// /api/plugins.json).
type Monitor struct {
	Addr     string `yaml:"addr"` // default 127.0.0.1:24220
	Disabled bool   `yaml:"disabled"`
	// DegradedAfter: /healthz answers 503 "degraded" when sealed chunks
	// have waited this long with nothing shipped (default 10m).
	DegradedAfter time.Duration `yaml:"degraded_after"`
}

// Load reads, decodes strictly, fills defaults and validates path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(data)
}

// Parse decodes data strictly, fills defaults and validates. Unknown keys
// and values of the wrong kind are reported with their YAML path (and the
// nearest known key); sizes may carry a unit (8m, see ParseSize).
func Parse(data []byte) (Config, error) {
	var c Config
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, fmt.Errorf("decode config: %w", plainYAMLError(err))
	}
	var errs []error
	check(&doc, reflect.TypeFor[Config](), "", &errs)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if doc.Kind != 0 {
		if err := doc.Decode(&c); err != nil {
			return Config{}, fmt.Errorf("decode config: %w", plainYAMLError(err))
		}
	}
	c = Defaults(c)
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// DefaultConfig returns the defaults of every field that has one: the
// buffer's and the output's DefaultConfig, log level info, state directory
// /var/lib/spillway-forwarder, monitor on 127.0.0.1:24220, 30 s shutdown.
// Paths under the state directory (buffer.dir, each tail's pos_file) and the
// per-source defaults depend on the file's values: Defaults fills them.
func DefaultConfig() Config {
	return Config{
		Log:             Log{Level: "info", Format: "json"},
		StateDir:        "/var/lib/spillway-forwarder",
		Buffer:          buffer.DefaultConfig(),
		Output:          output.DefaultConfig(),
		Monitor:         Monitor{Addr: "127.0.0.1:24220", DegradedAfter: 10 * time.Minute},
		ShutdownTimeout: 30 * time.Second,
	}
}

// Defaults fills every zero field of a decoded c from DefaultConfig, derives
// the paths under the state directory, and fills each source's zero fields
// from its DefaultConfig (tail and its parser, httpin, forwardin; a tail's
// name defaults to its tag). A field set to its
// zero value in the file therefore takes its default.
func Defaults(c Config) Config {
	d := DefaultConfig()
	if c.Log.Level == "" {
		c.Log.Level = d.Log.Level
	}
	if c.Log.Format == "" {
		c.Log.Format = d.Log.Format
	}
	if c.StateDir == "" {
		c.StateDir = d.StateDir
	}
	bd := d.Buffer
	if c.Buffer.Dir == "" {
		c.Buffer.Dir = filepath.Join(c.StateDir, "buffer")
	}
	if c.Buffer.ChunkLimit == 0 {
		c.Buffer.ChunkLimit = bd.ChunkLimit
	}
	if c.Buffer.SealInterval == 0 {
		c.Buffer.SealInterval = bd.SealInterval
	}
	if c.Buffer.TotalLimit == 0 {
		c.Buffer.TotalLimit = bd.TotalLimit
	}
	if c.Buffer.Overflow == "" {
		c.Buffer.Overflow = bd.Overflow
	}
	if c.Buffer.GzipLevel == 0 {
		c.Buffer.GzipLevel = bd.GzipLevel
	}
	if c.Buffer.Compression == "" {
		c.Buffer.Compression = bd.Compression
	}
	od := d.Output
	if c.Output.Type == "" {
		c.Output.Type = od.Type
	}
	if c.Output.Forward != nil {
		f := c.Output.Forward.WithDefaults()
		c.Output.Forward = &f
	}
	if c.Output.FailoverAfter == 0 {
		c.Output.FailoverAfter = od.FailoverAfter
	}
	if c.Output.PrimaryRetryInterval == 0 {
		c.Output.PrimaryRetryInterval = od.PrimaryRetryInterval
	}
	if c.Output.Compression == "" {
		c.Output.Compression = od.Compression
	}
	if c.Output.AutoCreateTable == nil {
		c.Output.AutoCreateTable = od.AutoCreateTable
	}
	if c.Output.Concurrency == 0 {
		c.Output.Concurrency = od.Concurrency
	}
	if c.Output.RequestTimeout == 0 {
		c.Output.RequestTimeout = od.RequestTimeout
	}
	if c.Output.MinBackoff == 0 {
		c.Output.MinBackoff = od.MinBackoff
	}
	if c.Output.MaxBackoff == 0 {
		c.Output.MaxBackoff = od.MaxBackoff
	}
	if c.Output.ClientAttempts == 0 {
		c.Output.ClientAttempts = od.ClientAttempts
	}
	for i := range c.Sources.Tail {
		t := &c.Sources.Tail[i]
		tailDefaults(t)
		if t.PosFile == "" && t.Name != "" {
			t.PosFile = filepath.Join(c.StateDir, "pos", t.Name+".json")
		}
	}
	if c.Sources.HTTP != nil {
		httpDefaults(c.Sources.HTTP)
	}
	if c.Sources.Forward != nil {
		forwardDefaults(c.Sources.Forward)
	}
	if c.Monitor.Addr == "" {
		c.Monitor.Addr = d.Monitor.Addr
	}
	if c.Monitor.DegradedAfter == 0 {
		c.Monitor.DegradedAfter = d.Monitor.DegradedAfter
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	for i := range c.Outputs {
		// The same defaults as the output section.
		c.Outputs[i].Config = Defaults(Config{StateDir: c.StateDir, Output: c.Outputs[i].Config}).Output
	}
	return c
}

// OutputBufferDir is the buffer directory of the named output (the
// default output's is buffer.dir).
func (c Config) OutputBufferDir(name string) string {
	if name == route.DefaultOutput {
		return c.Buffer.Dir
	}
	return c.Buffer.Dir + "-" + name
}

// tailDefaults fills the zero fields of t from tail.DefaultConfig; the name
// defaults to the tag.
func tailDefaults(t *tail.Config) {
	d := tail.DefaultConfig()
	if t.Name == "" {
		t.Name = t.Tag
	}
	if len(t.Rotated) == 0 {
		t.Rotated = d.Rotated
	}
	if t.RefreshInterval == 0 {
		t.RefreshInterval = d.RefreshInterval
	}
	if t.PollInterval == 0 {
		t.PollInterval = d.PollInterval
	}
	if t.RotateWait == 0 {
		t.RotateWait = d.RotateWait
	}
	if t.MaxLineSize == 0 {
		t.MaxLineSize = d.MaxLineSize
	}
	if t.ReadBytes == 0 {
		t.ReadBytes = d.ReadBytes
	}
	if t.BatchBytes == 0 {
		t.BatchBytes = d.BatchBytes
	}
	if t.MultilineTimeout == 0 {
		t.MultilineTimeout = d.MultilineTimeout
	}
	if t.Parse.Type == "" {
		t.Parse.Type = d.Parse.Type
	}
	parseDefaults(&t.Parse)
}

// parseDefaults fills the zero fields of p from parser.DefaultConfig; the
// defaults that follow from the parser type stay derived by the parser.
func parseDefaults(p *parser.Config) {
	d := parser.DefaultConfig()
	if p.TimeKey == "" {
		p.TimeKey = d.TimeKey
	}
	if p.MessageKey == "" {
		p.MessageKey = d.MessageKey
	}
	if p.LabelDelimiter == "" {
		p.LabelDelimiter = d.LabelDelimiter
	}
}

// httpDefaults fills the zero fields of h from httpin.DefaultConfig.
func httpDefaults(h *httpin.Config) {
	d := httpin.DefaultConfig()
	if h.Addr == "" {
		h.Addr = d.Addr
	}
	if h.MaxBodyBytes == 0 {
		h.MaxBodyBytes = d.MaxBodyBytes
	}
	if h.MaxDecompressedBytes == 0 {
		h.MaxDecompressedBytes = d.MaxDecompressedBytes
	}
	if h.MaxRecords == 0 {
		h.MaxRecords = d.MaxRecords
	}
	if h.ReadTimeout == 0 {
		h.ReadTimeout = d.ReadTimeout
	}
	if h.IdleTimeout == 0 {
		h.IdleTimeout = d.IdleTimeout
	}
	if h.RetryAfter == 0 {
		h.RetryAfter = d.RetryAfter
	}
}

// forwardDefaults fills the zero fields of f from forwardin.DefaultConfig.
func forwardDefaults(f *forwardin.Config) {
	d := forwardin.DefaultConfig()
	if f.Addr == "" {
		f.Addr = d.Addr
	}
	if f.MaxMessageBytes == 0 {
		f.MaxMessageBytes = d.MaxMessageBytes
	}
	if f.MaxDecompressedBytes == 0 {
		f.MaxDecompressedBytes = d.MaxDecompressedBytes
	}
	if f.IdleTimeout == 0 {
		f.IdleTimeout = d.IdleTimeout
	}
	if f.SelfHostname == "" {
		f.SelfHostname = d.SelfHostname
	}
}

// Validate reports every problem at once, each prefixed with its path.
func (c Config) Validate() error {
	var errs []error
	var prefix func(p string, err error)
	prefix = func(p string, err error) {
		if err == nil {
			return
		}
		var j interface{ Unwrap() []error }
		if errors.As(err, &j) {
			for _, e := range j.Unwrap() {
				prefix(p, e)
			}
			return
		}
		errs = append(errs, fmt.Errorf("%s.%w", p, err))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		errs = append(errs, fmt.Errorf("log.format: %q is not json or text", c.Log.Format))
	}
	prefix("buffer", c.Buffer.Validate())
	prefix("output", c.Output.Validate())
	outNames := map[string]bool{}
	for i, o := range c.Outputs {
		p := fmt.Sprintf("outputs[%d]", i)
		if outNames[o.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q used twice", p, o.Name))
		}
		outNames[o.Name] = true
		prefix(p, o.Validate())
	}
	if len(c.Sources.Tail) == 0 && c.Sources.HTTP == nil && c.Sources.Forward == nil {
		errs = append(errs, errors.New("sources: no source configured (tail, http or forward)"))
	}
	names := map[string]bool{}
	for i, t := range c.Sources.Tail {
		p := fmt.Sprintf("sources.tail[%d]", i)
		if names[t.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q used twice", p, t.Name))
		}
		names[t.Name] = true
		prefix(p, t.Validate())
	}
	if c.Sources.HTTP != nil {
		prefix("sources.http", c.Sources.HTTP.Validate())
	}
	if c.Sources.Forward != nil {
		prefix("sources.forward", c.Sources.Forward.Validate())
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown_timeout: %v must be positive", c.ShutdownTimeout))
	}
	errs = append(errs, c.validateRoutes()...)
	if err := filter.Validate(c.Filters); err != nil {
		var j interface{ Unwrap() []error }
		if errors.As(err, &j) {
			errs = append(errs, j.Unwrap()...)
		} else {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RouteConfig is the routing part of c.
func (c Config) RouteConfig() route.Config {
	rc := route.Config{Routes: c.Routes, DefaultTable: c.DefaultTable}
	if c.Output.Type == output.TypeForward {
		rc.KeepTag = append(rc.KeepTag, route.DefaultOutput)
	}
	for _, o := range c.Outputs {
		rc.Outputs = append(rc.Outputs, o.Name)
		if o.Type == output.TypeForward {
			// Forwarded with the tags the events arrived with.
			rc.KeepTag = append(rc.KeepTag, o.Name)
		}
	}
	return rc
}

// validateRoutes checks the routes and that each tail source's tag, when
// it does not expand from the file path, is routable.
func (c Config) validateRoutes() []error {
	r, err := route.New(c.RouteConfig())
	if err != nil {
		var j interface{ Unwrap() []error }
		if errors.As(err, &j) {
			return j.Unwrap()
		}
		return []error{err}
	}
	var errs []error
	for i, t := range c.Sources.Tail {
		if t.Tag != "" && !strings.Contains(t.Tag, "*") && !r.Routable(t.Tag) {
			errs = append(errs, fmt.Errorf("sources.tail[%d].tag: no route accepts %q and no default_table is set", i, t.Tag))
		}
	}
	return errs
}
