// Package edge owns the local AWS edge: one HTTP endpoint (default
// 127.0.0.1:4566, like LocalStack's) that routes every AWS request to a
// backend by service - moto's server for everything - except Lambda Invoke,
// which goes to a registered Invoker (the local Lambda runner). It serialises
// Kinesis and DynamoDB write calls (moto is unsafe under concurrent
// writers), reproduces the AWS behaviours the emulators lack (DynamoDB
// transaction conflicts and size limits, S3 key length and SlowDown, Kinesis
// per-shard write limits; see AWSBehaviours), and injects faults per service
// and operation (error codes, latency, partial PutRecords failures) from a
// config file or its control endpoint, POST /_spillway/faults.
package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spillwayhq/spillway/local/listen"
)

// DefaultAddr is the LocalStack-compatible edge address.
const DefaultAddr = "127.0.0.1:4566"

// maxBufferedBody bounds the bodies the edge reads itself (form-encoded
// query-protocol requests, PutRecords under partial failure, Invoke
// payloads).
const maxBufferedBody = 16 << 20

// ErrPortInUse is returned by Start when the configured address is taken.
// It is listen.ErrPortInUse, the same value for every local component.
var ErrPortInUse = listen.ErrPortInUse

// Config configures the edge. Defaults come from DefaultConfig.
type Config struct {
	// Addr is the listen address; "127.0.0.1:0" picks a free port.
	Addr string
	// Backend is the base URL every service is forwarded to (moto's server).
	Backend string
	// Backends overrides Backend per SigV4 service name (e.g. "kinesis").
	Backends map[string]string
	// Faults are the initial fault rules.
	Faults FaultConfig
	// AWS selects the AWS behaviours the edge reproduces; the zero value is
	// all of them with AWS's numbers.
	AWS AWSBehaviours
	// Seed seeds fault randomness when Faults.Seed is 0; default 1.
	Seed uint64
	// ForwardBucketPolicies sends S3 bucket policy calls to moto, which then
	// enforces policies without their Conditions; by default the edge keeps
	// bucket policies itself and does not enforce them (see bucketPolicies).
	ForwardBucketPolicies bool
	// Metering measures each call's billing units from its bodies (Kinesis
	// records and bytes, DynamoDB read and write units, reading each
	// written item's stored size from the backend before and after the
	// write with two uncounted GetItems, as AWS bills the larger) and each
	// DynamoDB call's resource (table and partition-key kind; see
	// ddbResource). Off, the edge counts calls, their bytes, their S3
	// request class and S3 resource only, and touches no body it did not
	// read before. Cost runs turn it on (SetMetering).
	Metering bool
	// Invoker runs Lambda Invoke calls; it can be set later with SetInvoker.
	Invoker Invoker
	// Logger receives JSON logs; default discards.
	Logger *slog.Logger
	// TraceCalls logs every call served, at debug level: caller (access
	// key), service, operation, path and milliseconds, a timeline of what
	// each function waited for.
	TraceCalls bool
	// ShutdownTimeout bounds Close; default 10s.
	ShutdownTimeout time.Duration
}

// DefaultConfig returns the defaults: DefaultAddr, seed 1, 10s shutdown.
func DefaultConfig() Config {
	return Config{Addr: DefaultAddr, Seed: 1, ShutdownTimeout: 10 * time.Second}
}

func (c *Config) applyDefaults() {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.Seed == 0 {
		c.Seed = d.Seed
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	check := func(field, raw string) {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not an http(s) URL", field, raw))
		}
	}
	if c.Backend == "" {
		errs = append(errs, errors.New("edge.Config.Backend: required (moto's URL)"))
	} else {
		check("edge.Config.Backend", c.Backend)
	}
	for svc, u := range c.Backends {
		check("edge.Config.Backends["+svc+"]", u)
	}
	if err := c.Faults.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("edge.Config.Faults: %w", err))
	}
	if err := c.AWS.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("edge.Config.AWS: %w", err))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("edge.Config.ShutdownTimeout: negative"))
	}
	return errors.Join(errs...)
}

// Server is the edge. It is an http.Handler; Start also listens.
type Server struct {
	cfg      Config
	log      *slog.Logger
	backend  *url.URL
	backends map[string]*url.URL
	proxies  map[string]*httputil.ReverseProxy
	client   *http.Client
	faults   *injector
	writeMu  map[string]*sync.Mutex
	policies bucketPolicies
	glue     glueTables
	calls    callCounter

	behMu     sync.RWMutex
	beh       AWSBehaviours
	schemas   schemas
	holds     holds
	shards    shardMaps
	s3Rate    windows
	shardRate windows
	// inFlight, when set (tests), runs after a DynamoDB write took its holds
	// and before it is forwarded: a test holds a transaction in flight with it.
	inFlight atomic.Pointer[func(op string)]
	// metering is Config.Metering, changed by SetMetering.
	metering atomic.Bool

	invMu   sync.RWMutex
	invoker Invoker

	baseCtx    context.Context
	cancelBase context.CancelFunc
	async      sync.WaitGroup

	ln        net.Listener
	srv       *http.Server
	served    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// New builds an edge handler without listening.
func New(cfg Config) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("edge config: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		backends: map[string]*url.URL{},
		proxies:  map[string]*httputil.ReverseProxy{},
		client:   &http.Client{Timeout: 5 * time.Minute},
		faults:   newInjector(cfg.Seed),
		writeMu:  map[string]*sync.Mutex{},
		invoker:  cfg.Invoker,
	}
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	s.backend, _ = url.Parse(strings.TrimRight(cfg.Backend, "/"))
	s.proxies[""] = s.newProxy(s.backend)
	for svc, raw := range cfg.Backends {
		u, _ := url.Parse(strings.TrimRight(raw, "/"))
		s.backends[strings.ToLower(svc)] = u
		s.proxies[strings.ToLower(svc)] = s.newProxy(u)
	}
	for svc := range serialisedWrites {
		s.writeMu[svc] = &sync.Mutex{}
	}
	s.faults.set(cfg.Faults)
	s.beh = cfg.AWS.withDefaults()
	s.metering.Store(cfg.Metering)
	return s, nil
}

func (s *Server) newProxy(target *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // SigV4 signed the client's host; moto ignores it
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Error("backend unreachable", "backend", target.String(), "path", r.URL.Path, "err", err)
			c := Classify(r, nil)
			writeAWSError(w, r, c, http.StatusBadGateway, "InternalFailure", "spillway edge: backend "+target.String()+" unreachable: "+err.Error())
		},
		FlushInterval: -1,
	}
}

func (s *Server) backendFor(c Call) *url.URL {
	if u, ok := s.backends[c.Service]; ok {
		return u
	}
	return s.backend
}

func (s *Server) proxyFor(c Call) *httputil.ReverseProxy {
	if p, ok := s.proxies[c.Service]; ok {
		return p
	}
	return s.proxies[""]
}

// SetInvoker installs (or, with nil, removes) the Invoker for Lambda Invoke.
func (s *Server) SetInvoker(inv Invoker) {
	s.invMu.Lock()
	defer s.invMu.Unlock()
	s.invoker = inv
}

// SetFaults replaces the fault rules (and reseeds when c.Seed != 0).
func (s *Server) SetFaults(c FaultConfig) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("invalid faults: %w", err)
	}
	s.faults.set(c)
	return nil
}

// Faults returns the current rules (Next shows what is left) and the
// counters of injected faults, keyed "<service>.<operation>.<code>".
func (s *Server) Faults() (FaultConfig, map[string]int64) { return s.faults.snapshot() }

// ResetFaultCounters zeroes the counters.
func (s *Server) ResetFaultCounters() { s.faults.resetCounters() }

// faultsState is the control endpoint's answer.
type faultsState struct {
	Rules    []FaultRule      `json:"rules"`
	Counters map[string]int64 `json:"counters"`
}

// ServeHTTP routes one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_spillway/") || strings.HasPrefix(r.URL.Path, "/_localstack/") {
		s.serveControl(w, r)
		return
	}
	var form url.Values
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody+1))
		if err != nil || len(body) > maxBufferedBody {
			http.Error(w, "spillway edge: form body unreadable or too large", http.StatusRequestEntityTooLarge)
			return
		}
		form, _ = url.ParseQuery(string(body))
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		r.ContentLength = int64(len(body))
	}
	c := Classify(r, form)
	reqBytes := max(r.ContentLength, 0)
	m := s.startMeter(r, c)
	cw := &countingWriter{ResponseWriter: w, calls: &s.calls}
	if m != nil {
		cw.capture = &bytes.Buffer{}
	}
	w = cw
	began := time.Now()
	defer func() {
		// Logged before it is counted: a snapshot of the counts (which
		// waits for every started response to be counted) comes after
		// the lines of the calls it counts, and so does a Mark.
		if s.cfg.TraceCalls {
			s.log.Debug("call", "caller", accessKeyID(r), "service", c.Service, "operation", c.Operation,
				"path", r.URL.Path, "ms", time.Since(began).Milliseconds())
		}
		s.calls.add(callKey{accessKeyID(r), c.Service, c.Operation, resourceOf(r, c, m)}, reqBytes, cw.n, s.callUnits(m, c, cw), cw.started)
	}()
	rule, fired := s.faults.pick(c)
	// A DynamoDB write's latency (without an error) is added while it holds
	// its items, as a slow transaction on AWS holds them: see serveDDBWrite.
	var heldLatency time.Duration
	if fired {
		if c.Service == "dynamodb" && ddbWriteOps[c.Operation] && rule.Status == 0 {
			heldLatency = time.Duration(rule.Latency)
		} else if !sleepCtx(r.Context(), time.Duration(rule.Latency)) {
			return
		}
		if rule.Status != 0 {
			s.log.Info("fault injected", "service", c.Service, "operation", c.Operation, "status", rule.Status, "code", rule.Code)
			writeAWSError(w, r, c, rule.Status, rule.Code, rule.Message)
			return
		}
	}
	if c.Service == "lambda" && c.Operation == "Invoke" {
		s.serveInvoke(w, r, c)
		return
	}
	if !s.cfg.ForwardBucketPolicies && isBucketPolicyCall(r, c) {
		s.policies.serve(w, r, c)
		return
	}
	if isGlueUpdateTable(c) {
		s.serveGlueUpdateTable(w, r, c)
		return
	}
	if isCreateRestAPI(r, c) {
		s.serveCreateRestAPI(w, r, c)
		return
	}
	switch c.Service {
	case "dynamodb":
		if ddbWriteOps[c.Operation] {
			s.serveDDBWrite(w, r, c, heldLatency)
			return
		}
		if c.Operation == "CreateTable" || c.Operation == "DeleteTable" {
			s.schemas.clear()
		}
	case "s3":
		if s.s3Limits(w, r, c) {
			return
		}
	case "kinesis":
		if c.Operation == "PutRecords" || c.Operation == "PutRecord" {
			s.serveKinesisPut(w, r, c, rule, fired)
			return
		}
		if reshapesStream[c.Operation] {
			s.shards.clear()
		}
	}
	if mu := s.writeMu[c.Service]; mu != nil && serialisedWrites[c.Service][c.Operation] {
		mu.Lock()
		defer mu.Unlock()
	}
	// The proxy's transport may still be reading the request body (if only
	// for its end) when the backend's answer comes back. By default Go's
	// HTTP/1 server then consumes and closes the rest of the body as the
	// response starts: the transport's write fails, it closes the backend
	// connection, and the response is cut off ("ReverseProxy read error
	// during body copy: use of closed network connection", golang/go#40747;
	// the client sees unexpected EOF). Full duplex lets both run.
	_ = http.NewResponseController(w).EnableFullDuplex()
	s.proxyFor(c).ServeHTTP(w, r)
}

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	writeJSON := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	switch r.URL.Path {
	case "/_spillway/health", "/_localstack/health":
		writeJSON(http.StatusOK, map[string]any{"status": "running", "backend": s.backend.String(),
			"services": map[string]string{"kinesis": "running", "dynamodb": "running", "s3": "running",
				"lambda": "running", "apigateway": "running", "events": "running", "secretsmanager": "running",
				"sqs": "running", "iam": "running", "sts": "running", "kms": "running"}})
	case "/_spillway/faults":
		switch r.Method {
		case http.MethodGet:
			cfg, counters := s.Faults()
			writeJSON(http.StatusOK, faultsState{Rules: cfg.Rules, Counters: counters})
		case http.MethodPost, http.MethodPut:
			var fc FaultConfig
			dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&fc); err != nil {
				writeJSON(http.StatusBadRequest, map[string]string{"error": "decode faults: " + err.Error()})
				return
			}
			if err := s.SetFaults(fc); err != nil {
				writeJSON(http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			cfg, counters := s.Faults()
			writeJSON(http.StatusOK, faultsState{Rules: cfg.Rules, Counters: counters})
		case http.MethodDelete:
			s.faults.set(FaultConfig{})
			s.ResetFaultCounters()
			writeJSON(http.StatusOK, faultsState{Rules: []FaultRule{}, Counters: map[string]int64{}})
		default:
			writeJSON(http.StatusMethodNotAllowed, map[string]string{"error": "use GET, POST or DELETE"})
		}
	case "/_spillway/aws":
		s.serveAWSControl(w, r, writeJSON)
	case "/_spillway/calls":
		switch r.Method {
		case http.MethodGet:
			if r.URL.Query().Has("caller") {
				writeJSON(http.StatusOK, s.CallsBy(r.URL.Query().Get("caller")))
				return
			}
			writeJSON(http.StatusOK, s.Calls())
		case http.MethodDelete:
			s.ResetCalls()
			writeJSON(http.StatusOK, map[string]string{"status": "reset"})
		default:
			writeJSON(http.StatusMethodNotAllowed, map[string]string{"error": "GET or DELETE"})
		}
	case "/_spillway/faults/counters":
		if r.Method == http.MethodDelete {
			s.ResetFaultCounters()
		}
		_, counters := s.Faults()
		writeJSON(http.StatusOK, counters)
	default:
		writeJSON(http.StatusNotFound, map[string]string{"error": "unknown control path " + r.URL.Path})
	}
}

// Start builds the edge, listens on cfg.Addr and serves until Close or ctx
// is cancelled. A taken port is reported as ErrPortInUse.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := listen.TCP("edge", s.cfg.Addr)
	if err != nil {
		s.cancelBase()
		return nil, err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("edge serve", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.served:
		}
	}()
	s.log.Info("edge listening", "addr", ln.Addr().String(), "backend", s.backend.String())
	return s, nil
}

// URL is the edge's base URL (set once Start returned).
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Addr is the listen address (set once Start returned).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops listening, waits for in-flight requests and asynchronous
// invocations (bounded by Config.ShutdownTimeout), and is safe to call more
// than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		if s.srv != nil {
			if err := s.srv.Shutdown(ctx); err != nil {
				s.closeErr = fmt.Errorf("edge shutdown: %w", err)
				_ = s.srv.Close()
			}
			<-s.served
		}
		done := make(chan struct{})
		go func() { s.async.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.cancelBase()
			<-done
		}
		s.cancelBase()
	})
	return s.closeErr
}

// sleepCtx waits d, and reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
