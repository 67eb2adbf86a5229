// Package tdtest is the test double of a Treasure Data import endpoint, for
// the tests and benchmarks of everything that sends to one (the forwarder's
// output, flush through the local cloud). A Server speaks the TD import API
// (import and import_with_id of msgpack.gz and msgpack.zst bodies, database
// and table creation and listings, the TD1 API key), honours unique_id (a
// repeated id is answered 200 and not stored twice), injects failures on
// demand, and lets tests read back counts, records and record hashes. It
// keeps records (decoded with limits, optionally persisted to a directory)
// or, for benchmarks, only counts them (Config.CountOnly).
//
// Only tests, benchmarks and the local test cloud (local/) import it.
package tdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// tdTimeLayout is how TD's API writes timestamps.
const tdTimeLayout = "2006-01-02 15:04:05 MST"

// Config configures the receiver. Defaults come from DefaultConfig.
type Config struct {
	// APIKey is the one accepted key (Authorization: TD1 <key>); New
	// generates a random one when empty.
	APIKey string
	// Dir, when set, receives every accepted body as
	// <db>/<table>/<unique id>.msgpack.gz: a gzip body as it came, a zstd
	// body re-compressed as gzip.
	Dir string
	// AutoCreate creates unknown databases and tables on import; when false
	// (TD's behaviour) an import into an unknown table is answered 404.
	AutoCreate bool
	// CountOnly makes imports count their records with an in-place walk of
	// the decompressed stream instead of decoding them: the fast path for
	// benchmarks. Records and Hashes stay empty, a record's keys and time
	// are not checked, and md5_hex is answered empty.
	CountOnly bool
	// GzipOnly answers msgpack.zst imports 415, as a TD endpoint that knows
	// only msgpack.gz does (for the forwarder's fallback to gzip).
	GzipOnly bool
	// Fail, when set, is asked before each import body is read; a non-zero
	// status is answered (with Retry-After: 0) instead of storing the
	// import. FailNext injects failures from outside instead.
	Fail func(db, table, uniqueID string) int
	// MaxBodyBytes bounds a request body (compressed).
	MaxBodyBytes int64
	// Limits bound the decoded stream (the product's codec,
	// shared/tdrecord, checks them); zero means DefaultLimits, and a zero
	// MaxRecordBytes means MaxDecompressedBytes.
	Limits tdrecord.Limits
	// Logger receives JSON logs; default discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DefaultConfig returns a 64 MiB body limit and DefaultLimits.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 64 << 20, Limits: DefaultLimits(), Now: time.Now}
}

func (c *Config) applyDefaults() {
	d := DefaultConfig()
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.Limits == (tdrecord.Limits{}) {
		c.Limits = d.Limits
	}
	if c.Limits.MaxRecordBytes == 0 {
		c.Limits.MaxRecordBytes = c.Limits.MaxDecompressedBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = d.Now
	}
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("tdtest.Config.MaxBodyBytes: must be positive"))
	}
	l := c.Limits
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxDecompressedBytes", l.MaxDecompressedBytes}, {"MaxRecordBytes", l.MaxRecordBytes}, {"MaxKeys", l.MaxKeys}, {"MaxDepth", l.MaxDepth}, {"MaxEvents", l.MaxEvents}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("tdtest.Config.Limits.%s: must be positive, got %d", f.name, f.v))
		}
	}
	if l.MaxCompressionRatio < 0 || l.RatioFloorBytes < 0 {
		errs = append(errs, errors.New("tdtest.Config.Limits.MaxCompressionRatio, RatioFloorBytes: must not be negative"))
	}
	if strings.ContainsAny(c.APIKey, " \t\r\n") {
		errs = append(errs, errors.New("tdtest.Config.APIKey: must not contain whitespace"))
	}
	return errors.Join(errs...)
}

type table struct {
	name       string
	createdAt  time.Time
	updatedAt  time.Time
	lastImport time.Time
	maxTime    int64
	count      int      // records stored (kept or, with CountOnly, counted)
	records    []Record // kept records (not with CountOnly)
	hashes     []string
	ids        map[string]bool
	imports    int
	bytes      int64 // compressed bytes received (estimated_storage_size)
}

type database struct {
	name      string
	createdAt time.Time
	tables    map[string]*table
}

// Server is the receiver; it is an http.Handler, and Serve also serves it.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	mu        sync.Mutex
	dbs       map[string]*database
	changed   chan struct{} // closed and replaced on every change
	seq       int
	duplicate int
	requests  int
	formats   map[string]int // import requests per format

	failMu     sync.Mutex
	failLeft   int
	failStatus int
	failAfter  time.Duration
	failures   int

	ln        net.Listener
	srv       *http.Server
	served    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// New builds a receiver without listening (serve it with net/http/httptest,
// or use Serve).
func New(cfg Config) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tdtest config: %w", err)
	}
	if cfg.APIKey == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		cfg.APIKey = "1/" + hex.EncodeToString(b[:])
	}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("tdtest: create dir: %w", err)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, dbs: map[string]*database{}, formats: map[string]int{}, changed: make(chan struct{})}
	m := http.NewServeMux()
	m.HandleFunc("PUT /v3/table/import_with_id/{db}/{table}/{uid}/{format}", s.auth(s.handleImport))
	m.HandleFunc("PUT /v3/table/import/{db}/{table}/{format}", s.auth(s.handleImport))
	m.HandleFunc("POST /v3/database/create/{db}", s.auth(s.handleCreateDatabase))
	m.HandleFunc("POST /v3/table/create/{db}/{table}/{type}", s.auth(s.handleCreateTable))
	m.HandleFunc("POST /v3/table/create/{db}/{table}", s.auth(s.handleCreateTable))
	m.HandleFunc("GET /v3/table/list/{db}", s.auth(s.handleListTables))
	m.HandleFunc("GET /v3/table/show/{db}/{table}", s.auth(s.handleShowTable))
	m.HandleFunc("GET /v3/database/list", s.auth(s.handleListDatabases))
	m.HandleFunc("GET /_spillway/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("POST /_spillway/fail", s.handleFailControl)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		tdError(w, http.StatusNotFound, "Resource not found", "no such API: "+r.Method+" "+r.URL.Path)
	})
	s.mux = m
	return s, nil
}

// TB is the part of testing.TB that NewTest uses (tdtest does not import
// package testing, so local/ may link it).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// NewTest is New for a test: a bad cfg fails tb.
func NewTest(tb TB, cfg Config) *Server {
	tb.Helper()
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("tdtest.New: %v", err)
	}
	return s
}

// APIKey is the accepted TD1 key.
func (s *Server) APIKey() string { return s.cfg.APIKey }

// ServeHTTP answers one TD API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	s.mux.ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// tdError writes TD's error document.
func tdError(w http.ResponseWriter, status int, short, msg string) {
	writeJSON(w, status, map[string]string{"error": short, "message": msg, "text": msg, "severity": "error"})
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "TD1 ")
		if !ok || strings.TrimSpace(key) != s.cfg.APIKey {
			tdError(w, http.StatusUnauthorized, "Authentication failed", "missing or wrong TD1 API key")
			return
		}
		if s.injectFailure(w) {
			return
		}
		h(w, r)
	}
}

func validNames(w http.ResponseWriter, db, tbl string) bool {
	if err := names.Validate("database", db); err != nil {
		tdError(w, http.StatusBadRequest, "Invalid name", err.Error())
		return false
	}
	if tbl != "" {
		if err := names.Validate("table", tbl); err != nil {
			tdError(w, http.StatusBadRequest, "Invalid name", err.Error())
			return false
		}
	}
	return true
}

// Serve builds the receiver and serves it on ln until Close or ctx is
// cancelled. The caller opens ln (the local cloud with local/listen, so that
// a taken port is reported as every local component reports it); Serve
// closes it, also when cfg is bad.
func Serve(ctx context.Context, ln net.Listener, cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("tdtest serve", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.served:
		}
	}()
	return s, nil
}

// URL is the receiver's base URL (set once Serve returned).
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Close stops the listener and waits (up to 10s) for requests in flight. It
// is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.srv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.closeErr = fmt.Errorf("tdtest shutdown: %w", err)
			_ = s.srv.Close()
		}
		<-s.served
	})
	return s.closeErr
}
