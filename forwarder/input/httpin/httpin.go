// Package httpin owns the forwarder's HTTP source: Fluentd in_http's wire
// format (POST /<tag> with json=, msgpack= or ndjson= parameters,
// or JSON, msgpack and NDJSON bodies by Content-Type, arrays as batches, a
// time parameter, gzip/deflate Content-Encoding). Records go to an intake.Appender;
// the answer is 200 only after Append returned.
//
// Answers:
//
//	200  records stored (empty body)
//	400  a tag no route accepts (the intake returns intake.ErrUnroutable;
//	     without routes, any tag that is not td.<db>.<table> with valid
//	     names; counted in Stats.Unroutable), no payload,
//	     bad JSON/msgpack,
//	     a record that is not an object, a non-numeric time, unknown Content-Encoding,
//	     a record with too many keys or nested too deep (tdrecord.DefaultLimits, what
//	     ingest accepts)
//	405  method other than POST
//	413  body, decompressed body, one record or record count over the limit
//	415  a Content-Type that carries no records (not JSON, NDJSON, msgpack or a form)
//	503  intake.ErrFull (Retry-After set); the client should resend
//	500  any other intake error
//
// Decoding (formats, the time rule, number conversion) is shared/tdrecord's
// DecodeInHTTP, the same code the ingest function's in_http route runs.
package httpin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spillwayhq/spillway/forwarder/intake"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// Config configures the HTTP source.
type Config struct {
	// Addr is where the forwarder listens (default 127.0.0.1:8888); Serve
	// takes the listener, so this is for the caller.
	Addr string `yaml:"addr"`
	// MaxBodyBytes limits the request body as sent (default 32 MiB,
	// Fluentd's body_size_limit).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxDecompressedBytes limits the body after Content-Encoding is
	// undone (default 128 MiB).
	MaxDecompressedBytes int64 `yaml:"max_decompressed_bytes"`
	// MaxRecords limits the records of one request (default 100000).
	MaxRecords int `yaml:"max_records"`
	// ReadTimeout bounds reading one request (default 60s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// IdleTimeout closes idle keep-alive connections (default 120s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// RetryAfter is the Retry-After answer with 503 (default 5s).
	RetryAfter time.Duration `yaml:"retry_after"`
}

// DefaultConfig returns the defaults: 127.0.0.1:8888, 32 MiB bodies
// (Fluentd's body_size_limit), 128 MiB decompressed, 100000 records per
// request, 60s to read a request, 120s idle keep-alive, Retry-After 5s.
func DefaultConfig() Config {
	return Config{
		Addr:                 "127.0.0.1:8888",
		MaxBodyBytes:         32 << 20,
		MaxDecompressedBytes: 128 << 20,
		MaxRecords:           100000,
		ReadTimeout:          60 * time.Second,
		IdleTimeout:          120 * time.Second,
		RetryAfter:           5 * time.Second,
	}
}

// Validate reports every problem of cfg at once, each prefixed with its
// field name.
func (cfg Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr: %w", err))
	}
	if cfg.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_body_bytes: %d must be positive", cfg.MaxBodyBytes))
	}
	if cfg.MaxDecompressedBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_decompressed_bytes: %d must be positive", cfg.MaxDecompressedBytes))
	}
	if cfg.MaxRecords <= 0 {
		errs = append(errs, fmt.Errorf("max_records: %d must be positive", cfg.MaxRecords))
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"read_timeout", cfg.ReadTimeout}, {"idle_timeout", cfg.IdleTimeout}, {"retry_after", cfg.RetryAfter}} {
		if f.d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %v must be positive", f.name, f.d))
		}
	}
	return errors.Join(errs...)
}

// Stats are the source's counters since start.
type Stats struct {
	Requests uint64 // requests answered
	Records  uint64 // records handed to the intake
	Rejected uint64 // requests answered 4xx
	// Unroutable counts requests answered 400 because no route accepts
	// their tag (also counted in Rejected).
	Unroutable uint64
	Full       uint64 // requests answered 503 (intake full)
	Failed     uint64 // requests answered 500 (intake error)
}

// Server is the HTTP source.
type Server struct {
	cfg    Config
	intake intake.Appender
	log    *slog.Logger
	srv    *http.Server

	requests, records, rejected, unroutable, full, failed atomic.Uint64
}

// New builds a Server that hands records to s; cfg (start from
// DefaultConfig) must be valid.
func New(cfg Config, s intake.Appender, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("http source config: %w", err)
	}
	if s == nil {
		return nil, errors.New("http source: nil intake")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &Server{cfg: cfg, intake: s, log: logger.With("source", "http")}
	srv.srv = &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return srv, nil
}

// Serve accepts connections on ln until Shutdown; it returns nil after a
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, waits for requests in flight (bounded by ctx).
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), Records: s.records.Load(), Rejected: s.rejected.Load(), Unroutable: s.unroutable.Load(), Full: s.full.Load(), Failed: s.failed.Load()}
}

// httpError is an answer other than 200.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func fail(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	tag, buf, n, err := s.decodeRequest(w, r)
	if err == nil {
		err = s.intake.Append(r.Context(), tag, buf, n)
		switch {
		case err == nil:
			s.records.Add(uint64(n))
			w.WriteHeader(http.StatusOK)
			return
		case errors.Is(err, intake.ErrFull):
			s.full.Add(1)
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.cfg.RetryAfter.Seconds()))))
			http.Error(w, "503 Service Unavailable: buffer is full, retry later", http.StatusServiceUnavailable)
			s.log.Warn("buffer full, request refused", "tag", tag, "records", n)
			return
		case errors.Is(err, intake.ErrUnroutable):
			s.unroutable.Add(1)
			err = fail(http.StatusBadRequest, "no route accepts tag %q, the records are not stored: "+
				"add a route (or a default_table) for it; without routes, tags must be td.<database>.<table> "+
				"with database and table names of 3 to 255 characters of [a-z0-9_] (%v)", clip(tag), err)
		case errors.Is(err, names.ErrInvalid):
			err = fail(http.StatusBadRequest, "%v", err)
		default:
			s.failed.Add(1)
			s.log.Error("intake append failed", "tag", tag, "records", n, "err", err)
			http.Error(w, "500 Internal Server Error: could not store the records", http.StatusInternalServerError)
			return
		}
	}
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{code: http.StatusBadRequest, msg: err.Error()}
	}
	s.rejected.Add(1)
	if he.code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	s.log.Info("request refused", "path", clip(r.URL.Path), "code", he.code, "err", he.msg)
	http.Error(w, strconv.Itoa(he.code)+" "+http.StatusText(he.code)+": "+he.msg, he.code)
}

// decodeRequest returns the tag and the concatenated msgpack records.
func (s *Server) decodeRequest(w http.ResponseWriter, r *http.Request) (string, []byte, int, error) {
	if r.Method != http.MethodPost {
		return "", nil, 0, fail(http.StatusMethodNotAllowed, "use POST")
	}
	tag := strings.ReplaceAll(strings.TrimPrefix(r.URL.Path, "/"), "/", ".")
	body, err := s.readBody(w, r)
	if err != nil {
		return "", nil, 0, err
	}
	recs, n, err := tdrecord.DecodeInHTTP(tdrecord.InHTTPRequest{
		ContentType:     r.Header.Get("Content-Type"),
		ContentEncoding: r.Header.Get("Content-Encoding"),
		RawQuery:        r.URL.RawQuery,
		Body:            body,
		Now:             time.Now().Unix(),
	}, s.limits())
	if err != nil {
		return "", nil, 0, answer(err)
	}
	if n == 0 {
		return "", nil, 0, fail(http.StatusBadRequest, "no records")
	}
	return tag, recs, n, nil
}

// limits are tdrecord's defaults (what ingest accepts) with this source's
// decompressed-size and record-count limits; there is no ratio limit.
func (s *Server) limits() tdrecord.Limits {
	lim := tdrecord.DefaultLimits()
	lim.MaxDecompressedBytes = int(min(s.cfg.MaxDecompressedBytes, math.MaxInt32))
	lim.MaxCompressionRatio = 0
	lim.MaxEvents = s.cfg.MaxRecords
	return lim
}

// answer maps a tdrecord failure to the HTTP answer.
func answer(err error) error {
	var e *tdrecord.Error
	if !errors.As(err, &e) {
		return fail(http.StatusBadRequest, "%v", err)
	}
	switch e.Kind {
	case tdrecord.KindTooManyEvents:
		return fail(http.StatusRequestEntityTooLarge, "too many records: %s", e.Msg)
	case tdrecord.KindDecompressedTooLarge, tdrecord.KindRatio, tdrecord.KindRecordTooLarge:
		return fail(http.StatusRequestEntityTooLarge, "%s", e.Msg)
	case tdrecord.KindUnsupportedType:
		return fail(http.StatusUnsupportedMediaType, "%s", e.Msg)
	case tdrecord.KindBadJSON:
		return fail(http.StatusBadRequest, "bad json: %s", e.Msg)
	case tdrecord.KindInternal:
		return fail(http.StatusInternalServerError, "%s", e.Msg)
	}
	return fail(http.StatusBadRequest, "%s", e.Msg)
}

// readBody reads the body as sent (Content-Encoding is undone by
// tdrecord.DecodeInHTTP).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return nil, fail(http.StatusRequestEntityTooLarge, "body of %d bytes is over the %d byte limit", r.ContentLength, s.cfg.MaxBodyBytes)
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fail(http.StatusRequestEntityTooLarge, "body is over the %d byte limit", s.cfg.MaxBodyBytes)
		}
		return nil, fail(http.StatusBadRequest, "read body: %v", err)
	}
	return raw, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
