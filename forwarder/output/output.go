// Package output ships the disk buffer's sealed chunks: with type td (the
// default) to TD import API endpoints with import_with_id (the chunk id is the unique_id): a primary
// endpoint, a standby used after consecutive failures with the primary
// retried periodically, several chunks in flight, jittered backoff, and
// chunks refused for their content (400, 413, 415, 422) parked with the
// server's answer; 401/403/404 retried and alarmed, 404 creating the table
// first when auto_create_table is on. With type forward it hands the chunks
// to a Fluentd forward-protocol output (package forward).
package output

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillwayhq/spillway/forwarder/buffer"
	"github.com/spillwayhq/spillway/forwarder/output/forward"
	"github.com/spillwayhq/spillway/shared/backoff"
	"github.com/spillwayhq/spillway/shared/resend"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// Endpoint is one TD-import-compatible API.
type Endpoint struct {
	URL        string `yaml:"url"`          // base URL, e.g. https://ingest.example.com
	APIKey     string `yaml:"api_key"`      // literal key (prefer api_key_file or api_key_env)
	APIKeyFile string `yaml:"api_key_file"` // file holding the key (trailing newline ignored)
	APIKeyEnv  string `yaml:"api_key_env"`  // environment variable holding the key
	CAFile     string `yaml:"ca_file"`      // PEM CA bundle added to the system roots
}

// Output types.
const (
	TypeTD      = "td"      // TD import API (primary, standby)
	TypeForward = "forward" // Fluentd forward protocol (forward.servers)
)

// Config configures an Output.
type Config struct {
	// Type is TypeTD (default) or TypeForward.
	Type string `yaml:"type"`
	// Forward configures the forward-protocol output (type forward); the
	// TD endpoint settings (primary, standby, compression,
	// auto_create_table, ...) are then unused.
	Forward *forward.Config `yaml:"forward"`

	Primary              Endpoint      `yaml:"primary"`
	Standby              *Endpoint     `yaml:"standby"`
	FailoverAfter        int           `yaml:"failover_after"`         // consecutive failed attempts before the standby is used
	PrimaryRetryInterval time.Duration `yaml:"primary_retry_interval"` // while on standby, how often the primary is tried again
	Concurrency          int           `yaml:"concurrency"`            // chunks in flight
	RequestTimeout       time.Duration `yaml:"request_timeout"`        // bound of one ImportWithID call, its own retries included
	MinBackoff           time.Duration `yaml:"min_backoff"`            // wait after a failed attempt, doubled per consecutive failure
	MaxBackoff           time.Duration `yaml:"max_backoff"`
	ClientAttempts       int           `yaml:"client_attempts"` // attempts inside one ImportWithID call
	// Compression of import bodies: "auto" (default) sends msgpack.gz to
	// an endpoint until a successful answer carries AcceptEncodingHeader
	// with zstd, then msgpack.zst; an endpoint that refuses a zstd body but
	// takes the same chunk as gzip gets gzip for good (kept in StateFile);
	// "zstd" always sends zstd; "gzip" always sends gzip (what every TD
	// endpoint takes).
	Compression string `yaml:"compression"`
	// AutoCreateTable, on a 404 answer to an import, creates the database
	// and the table with the TD API (POST /v3/database/create/:db,
	// /v3/table/create/:db/:table/log) and retries the import, as Fluentd's
	// tdlog output does (its auto_create_table). nil means true, tdlog's
	// default.
	AutoCreateTable *bool `yaml:"auto_create_table"`
	// StateFile, when set, keeps what each endpoint said about zstd
	// across restarts (written atomically, mode 0600); the agent sets it.
	StateFile string `yaml:"-"`
	// Body is how bodies are built from stored chunks; the agent sets it
	// from the buffer section.
	Body BodyConfig `yaml:"-"`

	Logger *slog.Logger `yaml:"-"`
}

// DefaultConfig returns working defaults for everything but the endpoints.
func DefaultConfig() Config {
	return Config{
		Type:                 TypeTD,
		FailoverAfter:        3,
		PrimaryRetryInterval: time.Minute,
		Concurrency:          2,
		RequestTimeout:       2 * time.Minute,
		MinBackoff:           time.Second,
		MaxBackoff:           time.Minute,
		ClientAttempts:       3,
		Compression:          CompressionAuto,
		AutoCreateTable:      ptr(true),
		Body:                 defaultBodyConfig(),
	}
}

func ptr[T any](v T) *T { return &v }

// autoCreate is AutoCreateTable with its default (true).
func (c Config) autoCreate() bool { return c.AutoCreateTable == nil || *c.AutoCreateTable }

// Compression settings.
const (
	CompressionAuto = "auto"
	CompressionZstd = "zstd"
	CompressionGzip = "gzip"
)

// format is the TD import format of a body in codec.
func format(codec buffer.Codec) string {
	if codec == buffer.Zstd {
		return tdimport.FormatZstd
	}
	return tdimport.FormatGzip
}

// Validate reports every problem of c, each prefixed with its field path.
func (c Config) Validate() error {
	var errs []error
	switch c.Type {
	case "", TypeTD:
		errs = append(errs, c.Primary.validate("primary"))
		if c.Standby != nil {
			errs = append(errs, c.Standby.validate("standby"))
		}
		if c.Forward != nil {
			errs = append(errs, errors.New("forward: set only with type forward"))
		}
	case TypeForward:
		if c.Primary != (Endpoint{}) || c.Standby != nil {
			errs = append(errs, errors.New("primary, standby: not used with type forward (list forward.servers)"))
		}
		if c.Forward == nil {
			errs = append(errs, errors.New("forward: required with type forward (forward.servers at least)"))
		} else if err := c.Forward.Validate(); err != nil {
			for _, e := range flatten(err) {
				errs = append(errs, fmt.Errorf("forward.%w", e))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("type: %q is neither %q nor %q", c.Type, TypeTD, TypeForward))
	}
	if c.FailoverAfter < 1 {
		errs = append(errs, fmt.Errorf("failover_after: %d must be at least 1", c.FailoverAfter))
	}
	if c.PrimaryRetryInterval <= 0 {
		errs = append(errs, fmt.Errorf("primary_retry_interval: %v must be positive", c.PrimaryRetryInterval))
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		errs = append(errs, fmt.Errorf("concurrency: %d is not in 1..64", c.Concurrency))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("request_timeout: %v must be positive", c.RequestTimeout))
	}
	if c.MinBackoff <= 0 || c.MaxBackoff < c.MinBackoff {
		errs = append(errs, fmt.Errorf("min_backoff, max_backoff: need 0 < %v <= %v", c.MinBackoff, c.MaxBackoff))
	}
	switch c.Compression {
	case CompressionAuto, CompressionZstd, CompressionGzip:
	default:
		errs = append(errs, fmt.Errorf("compression: %q is not one of %q, %q, %q", c.Compression, CompressionAuto, CompressionZstd, CompressionGzip))
	}
	if c.ClientAttempts < 1 {
		errs = append(errs, fmt.Errorf("client_attempts: %d must be at least 1", c.ClientAttempts))
	}
	return errors.Join(errs...)
}

func (e Endpoint) validate(path string) error {
	var errs []error
	u, err := url.Parse(e.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("%s.url: %q is not an http(s) URL", path, e.URL))
	}
	set := 0
	for _, s := range []string{e.APIKey, e.APIKeyFile, e.APIKeyEnv} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		errs = append(errs, fmt.Errorf("%s: set exactly one of api_key, api_key_file, api_key_env", path))
	}
	return errors.Join(errs...)
}

// key resolves the endpoint's API key.
func (e Endpoint) key() (string, error) {
	switch {
	case e.APIKeyFile != "":
		b, err := os.ReadFile(e.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("read api key file: %w", err)
		}
		k := strings.TrimSpace(string(b))
		if k == "" {
			return "", fmt.Errorf("api key file %s is empty", e.APIKeyFile)
		}
		return k, nil
	case e.APIKeyEnv != "":
		k := os.Getenv(e.APIKeyEnv)
		if k == "" {
			return "", fmt.Errorf("environment variable %s is empty", e.APIKeyEnv)
		}
		return k, nil
	}
	return e.APIKey, nil
}

func (e Endpoint) client(cfg Config, log *slog.Logger) (*tdimport.Client, error) {
	key, err := e.key()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.Concurrency + 1
	if e.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s holds no PEM certificate", e.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &tdimport.Client{
		Endpoint:  strings.TrimRight(e.URL, "/"),
		APIKey:    key,
		HTTP:      &http.Client{Transport: tr},
		Policy:    tdimport.RetryPolicy{MaxAttempts: cfg.ClientAttempts, MinBackoff: 200 * time.Millisecond, MaxBackoff: cfg.MaxBackoff},
		Logger:    log,
		UserAgent: "spillway-forwarder",
	}, nil
}

// Source is what the output needs from the disk buffer: sealed chunks
// (whose frames it reads with Chunk.Read) and their fate.
type Source interface {
	Next(ctx context.Context) (*buffer.Chunk, error)
	TryNext() *buffer.Chunk
	Ack(c *buffer.Chunk) error
	Park(c *buffer.Chunk, answer []byte) error
	Release(c *buffer.Chunk)
}

var _ Source = (*buffer.Buffer)(nil)

// importer is the part of tdimport.Client the output uses.
type importer interface {
	ImportWithIDFormat(ctx context.Context, db, table, uniqueID, format string, body []byte) (*tdimport.ImportResult, error)
	EnsureTable(ctx context.Context, db, table string) error
}

var _ importer = (*tdimport.Client)(nil)

// Stats is a snapshot of the output's counters.
type Stats struct {
	Chunks, Records, Bytes uint64 // shipped (2xx)
	Failures               uint64 // failed attempts (after the client's own retries)
	Parked                 uint64
	AuthFailures           uint64 // attempts refused with 401 or 403 (retried, alarmed)
	NotFound               uint64 // attempts answered 404 (retried, alarmed)
	Failovers              uint64
	LastSuccess            time.Time
	OnStandby              bool
}

// Output ships chunks from a Source.
type Output struct {
	cfg     Config
	src     Source
	bodies  *Bodies
	log     *slog.Logger
	clients [2]importer // primary, standby (nil when none)
	names   [2]string
	// enc is what compression auto knows of each endpoint (encUnknown,
	// encZstd, encGzip), kept by neg across restarts.
	enc [2]atomic.Int32
	neg *negotiator

	mu          sync.Mutex
	active      int // 0 primary, 1 standby
	fails       int // consecutive failures
	switchedAt  time.Time
	chunks      atomic.Uint64
	records     atomic.Uint64
	bytes       atomic.Uint64
	failures    atomic.Uint64
	parked      atomic.Uint64
	authFails   atomic.Uint64
	notFound    atomic.Uint64
	failovers   atomic.Uint64
	lastSuccess atomic.Int64

	now func() time.Time
	// fwd does the work with type forward.
	fwd *forward.Output
}

// flatten lists the errors joined in err.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// New builds an Output; API keys and CA files are read here.
func New(cfg Config, src Source) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("output config: %w", err)
	}
	o := &Output{cfg: cfg, src: src, log: cfg.Logger, now: time.Now}
	if o.log == nil {
		o.log = slog.Default()
	}
	if cfg.Type == TypeForward {
		f, err := forward.New(*cfg.Forward, src, o.log)
		if err != nil {
			return nil, err
		}
		o.fwd = f
		return o, nil
	}
	bodies, err := NewBodies(cfg.Body, o.log)
	if err != nil {
		return nil, err
	}
	o.bodies = bodies
	if o.neg, err = loadNegotiator(cfg.StateFile); err != nil {
		return nil, err
	}
	eps := []*Endpoint{&cfg.Primary, cfg.Standby}
	for i, e := range eps {
		if e == nil {
			continue
		}
		c, err := e.client(cfg, o.log)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", [2]string{"primary", "standby"}[i], err)
		}
		c.HTTP.Transport = observer{next: c.HTTP.Transport, saw: func(zstd bool) { o.learn(i, zstd) }}
		o.clients[i], o.names[i] = c, e.URL
		o.enc[i].Store(o.neg.get(e.URL))
	}
	return o, nil
}

// Run ships chunks with Concurrency workers until ctx ends. A chunk being
// shipped when ctx ends is released, not lost: it stays on disk.
func (o *Output) Run(ctx context.Context) {
	if o.fwd != nil {
		o.fwd.Run(ctx)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < o.cfg.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := o.src.Next(ctx)
				if err != nil {
					return
				}
				o.shipWithBackoff(ctx, c)
			}
		}()
	}
	wg.Wait()
}

// ShipQueued ships what is queued now and returns when the queue is empty, an
// attempt failed (the chunk stays queued), or ctx ends.
func (o *Output) ShipQueued(ctx context.Context) error {
	if o.fwd != nil {
		return o.fwd.ShipQueued(ctx)
	}
	return buffer.DrainQueued(ctx, o.cfg.Concurrency, o.src.TryNext, o.Ship)
}

func (o *Output) shipWithBackoff(ctx context.Context, c *buffer.Chunk) {
	if err := o.Ship(ctx, c); err == nil || ctx.Err() != nil {
		return
	}
	o.mu.Lock()
	n := o.fails
	o.mu.Unlock()
	_ = backoff.Sleep(ctx, backoff.Equal(o.cfg.MinBackoff, o.cfg.MaxBackoff, n))
}

// pick returns the endpoint index to use for the next attempt.
func (o *Output) pick() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.active == 1 && o.now().Sub(o.switchedAt) >= o.cfg.PrimaryRetryInterval {
		o.switchedAt = o.now()
		return 0 // probe the primary
	}
	return o.active
}

func (o *Output) result(ep int, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ok {
		o.fails = 0
		if ep != o.active {
			o.log.Info("output back on endpoint", "endpoint", o.names[ep])
			o.active = ep
		}
		return
	}
	o.fails++
	if ep == 0 && o.active == 0 && o.clients[1] != nil && o.fails >= o.cfg.FailoverAfter {
		o.active = 1
		o.switchedAt = o.now()
		o.failovers.Add(1)
		o.log.Warn("primary failing, switching to standby", "primary", o.names[0], "standby", o.names[1], "failures", o.fails)
	}
}

// pastHorizon reports whether c is older than resend.Horizon: the ledger
// that dedups resends keeps an entry for the horizon (plus the stream's
// retention and a margin), so the output stops resending there and parks
// the chunk instead (spillway-forwarder requeue puts it back).
func (o *Output) pastHorizon(c *buffer.Chunk) bool {
	created, ok := c.Created()
	return ok && o.now().Sub(created) > resend.Horizon
}

// answer is what a parked chunk's .response file holds.
type answer struct {
	Endpoint   string    `json:"endpoint"`
	StatusCode int       `json:"status_code"`
	Body       string    `json:"body"`
	Error      string    `json:"error"`
	At         time.Time `json:"at"`
}

// Ship makes one attempt to deliver c: 2xx -> Ack; a refusal of the
// content (400, 413, 415, 422) -> Park; anything else -> Release (the
// chunk is retried later) and the error. 401, 403 and 404 are logged as
// errors and counted (AuthFailures, NotFound): they heal (a rotated key, a
// table created later) and must not cost the chunk. With compression auto,
// a zstd body the endpoint refuses is sent again at once as gzip; with
// auto_create_table, a 404 creates the database and table and the import
// is sent again at once.
func (o *Output) Ship(ctx context.Context, c *buffer.Chunk) error {
	if o.fwd != nil {
		return o.fwd.Ship(ctx, c)
	}
	ep := o.pick()
	body, codec, err := o.send(ctx, ep, c, o.zstdOK(ep))
	if codec == buffer.Zstd && o.cfg.Compression == CompressionAuto && tdimport.IsPermanent(err) && !tdimport.IsAuthError(err) && ctx.Err() == nil {
		zerr := err
		if body, _, err = o.send(ctx, ep, c, false); err == nil {
			o.refusedZstd(ep)
			o.log.Info("endpoint refused a zstd body and took gzip; sending it gzip from now on", "endpoint", o.names[ep], "zstd_error", zerr)
		}
	}
	if tdimport.IsNotFound(err) && o.cfg.autoCreate() && ctx.Err() == nil {
		o.notFound.Add(1)
		o.log.Warn("table not found, creating it (auto_create_table)", "db", c.DB, "table", c.Table, "unique_id", c.ID, "endpoint", o.names[ep])
		if cerr := o.ensureTable(ctx, ep, c); cerr != nil {
			err = fmt.Errorf("%w (auto_create_table: %w)", err, cerr)
		} else {
			body, _, err = o.send(ctx, ep, c, o.zstdOK(ep))
			if tdimport.IsNotFound(err) {
				o.notFound.Add(1)
			}
		}
	} else if tdimport.IsNotFound(err) {
		o.notFound.Add(1)
	}
	if tdimport.IsAuthError(err) {
		o.authFails.Add(1)
	}
	switch {
	case body == nil && err != nil:
		o.src.Release(c)
		o.failures.Add(1)
		o.log.Error("read chunk for shipping", "db", c.DB, "table", c.Table, "unique_id", c.ID, "error", err)
		return err
	case err == nil:
		if aerr := o.src.Ack(c); aerr != nil {
			o.log.Error("ack shipped chunk", "db", c.DB, "table", c.Table, "unique_id", c.ID, "error", aerr)
		}
		o.chunks.Add(1)
		o.records.Add(uint64(max(c.Records, 0)))
		o.bytes.Add(uint64(len(body)))
		o.lastSuccess.Store(o.now().UnixNano())
		o.result(ep, true)
		o.log.Debug("chunk shipped", "db", c.DB, "table", c.Table, "unique_id", c.ID, "records", c.Records, "endpoint", o.names[ep])
		return nil
	case tdimport.IsContentError(err) || o.pastHorizon(c):
		a := answer{Endpoint: o.names[ep], Error: err.Error(), At: o.now().UTC()}
		if !tdimport.IsContentError(err) {
			created, _ := c.Created()
			a.Error = fmt.Sprintf("resend horizon passed: the chunk was created %s, more than %s ago, and a resend after that may be stored twice; last error: %v",
				created.UTC().Format(time.RFC3339), resend.Horizon, err)
		}
		var se *tdimport.StatusError
		if errors.As(err, &se) {
			a.StatusCode, a.Body = se.StatusCode, se.Body
		}
		js, _ := json.MarshalIndent(a, "", "  ")
		if perr := o.src.Park(c, js); perr != nil {
			o.log.Error("park refused chunk", "db", c.DB, "table", c.Table, "unique_id", c.ID, "error", perr)
			o.src.Release(c)
			return perr
		}
		o.parked.Add(1)
		o.log.Error("chunk refused by endpoint, parked", "db", c.DB, "table", c.Table, "unique_id", c.ID, "status", a.StatusCode, "endpoint", o.names[ep])
		return nil
	default:
		o.src.Release(c)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.failures.Add(1)
		o.result(ep, false)
		if st := tdimport.Status(err); st >= 400 && st < 500 && st != http.StatusRequestTimeout && st != http.StatusTooManyRequests {
			// Not the content: a key, a permission or a table to fix.
			// Retried with backoff until it heals; loud meanwhile.
			o.log.Error("chunk refused by endpoint, will retry (fix the key, its scope or the table)", "db", c.DB, "table", c.Table,
				"unique_id", c.ID, "status", st, "endpoint", o.names[ep], "error", err)
		} else {
			o.log.Warn("chunk not shipped, will retry", "db", c.DB, "table", c.Table, "unique_id", c.ID, "endpoint", o.names[ep], "error", err)
		}
		return fmt.Errorf("ship chunk %s: %w", c.ID, err)
	}
}

// ensureTable creates c's database and table on endpoint ep.
func (o *Output) ensureTable(ctx context.Context, ep int, c *buffer.Chunk) error {
	rctx, cancel := context.WithTimeout(ctx, o.cfg.RequestTimeout)
	defer cancel()
	if err := o.clients[ep].EnsureTable(rctx, c.DB, c.Table); err != nil {
		return fmt.Errorf("create %s.%s: %w", c.DB, c.Table, err)
	}
	o.log.Info("created table (auto_create_table)", "db", c.DB, "table", c.Table, "endpoint", o.names[ep])
	return nil
}

// send reads c's body (zstd when zstdOK and the chunk allows it) and makes
// one import call to endpoint ep. The body is nil when the chunk could not
// be read.
func (o *Output) send(ctx context.Context, ep int, c *buffer.Chunk, zstdOK bool) ([]byte, buffer.Codec, error) {
	body, codec, err := o.bodies.Body(c, zstdOK)
	if err != nil {
		return nil, "", err
	}
	rctx, cancel := context.WithTimeout(ctx, o.cfg.RequestTimeout)
	defer cancel()
	_, err = o.clients[ep].ImportWithIDFormat(rctx, c.DB, c.Table, c.ID, format(codec), body)
	return body, codec, err
}

// Stats returns a snapshot of the counters.
func (o *Output) Stats() Stats {
	if o.fwd != nil {
		f := o.fwd.Stats()
		return Stats{Chunks: f.Chunks, Records: f.Records, Bytes: f.Bytes, Failures: f.Failures + f.NoServer,
			LastSuccess: f.LastSuccess, OnStandby: f.OnStandby}
	}
	s := Stats{Chunks: o.chunks.Load(), Records: o.records.Load(), Bytes: o.bytes.Load(),
		Failures: o.failures.Load(), Parked: o.parked.Load(), Failovers: o.failovers.Load(),
		AuthFailures: o.authFails.Load(), NotFound: o.notFound.Load()}
	if ns := o.lastSuccess.Load(); ns != 0 {
		s.LastSuccess = time.Unix(0, ns)
	}
	o.mu.Lock()
	s.OnStandby = o.active == 1
	o.mu.Unlock()
	return s
}

// Forward returns the forward-protocol output (per-server state and
// counters), nil with type td.
func (o *Output) Forward() *forward.Output { return o.fwd }
