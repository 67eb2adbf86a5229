// Package httpin owns the forwarder's HTTP source: Fluentd in_http's wire
// format (POST /td.<db>.<table> with json=, msgpack= or ndjson= parameters,
// or JSON, msgpack and NDJSON bodies by Content-Type, arrays as batches, a
// time parameter, gzip/deflate Content-Encoding). Records go to an intake.Appender;
// the answer is 200 only after Append returned.
//
// Answers:
//
//	200  records stored (empty body)
//	400  bad tag (not td.<db>.<table> with valid names), no payload, bad JSON/msgpack,
//	     a record that is not an object, a non-numeric time, unknown Content-Encoding
//	405  method other than POST
//	413  body, decompressed body or record count over the configured limit
//	503  intake.ErrFull (Retry-After set); the client should resend
//	500  any other sink error
package httpin

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spillwayhq/spillway/forwarder/input/forwardin"
	"github.com/spillwayhq/spillway/forwarder/intake"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/vmihailenco/msgpack/v5"
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

// Defaults fills the zero fields of cfg.
func Defaults(cfg Config) Config {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8888"
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.MaxDecompressedBytes == 0 {
		cfg.MaxDecompressedBytes = 128 << 20
	}
	if cfg.MaxRecords == 0 {
		cfg.MaxRecords = 100000
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 60 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 120 * time.Second
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	return cfg
}

// Validate reports every problem of cfg at once.
func (cfg Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr: %w", err))
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("max_body_bytes: must not be negative"))
	}
	if cfg.MaxDecompressedBytes < 0 {
		errs = append(errs, errors.New("max_decompressed_bytes: must not be negative"))
	}
	if cfg.MaxRecords < 0 {
		errs = append(errs, errors.New("max_records: must not be negative"))
	}
	if cfg.ReadTimeout < 0 || cfg.IdleTimeout < 0 || cfg.RetryAfter < 0 {
		errs = append(errs, errors.New("read_timeout, idle_timeout, retry_after: must not be negative"))
	}
	return errors.Join(errs...)
}

// Stats are the source's counters since start.
type Stats struct {
	Requests uint64 // requests answered
	Records  uint64 // records handed to the sink
	Rejected uint64 // requests answered 4xx
	Full     uint64 // requests answered 503 (sink full)
	Failed   uint64 // requests answered 500 (sink error)
}

// Server is the HTTP source.
type Server struct {
	cfg  Config
	sink intake.Appender
	log  *slog.Logger
	srv  *http.Server

	requests, records, rejected, full, failed atomic.Uint64
}

// New builds a Server (after Defaults) that hands records to s.
func New(cfg Config, s intake.Appender, logger *slog.Logger) (*Server, error) {
	cfg = Defaults(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("http source config: %w", err)
	}
	if s == nil {
		return nil, errors.New("http source: nil sink")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &Server{cfg: cfg, sink: s, log: logger.With("source", "http")}
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
	return Stats{Requests: s.requests.Load(), Records: s.records.Load(), Rejected: s.rejected.Load(), Full: s.full.Load(), Failed: s.failed.Load()}
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
		err = s.sink.Append(r.Context(), tag, buf, n)
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
		case errors.Is(err, names.ErrInvalid):
			err = fail(http.StatusBadRequest, "%v", err)
		default:
			s.failed.Add(1)
			s.log.Error("sink append failed", "tag", tag, "records", n, "err", err)
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
	if _, _, err := names.ParseTag(tag); err != nil {
		return "", nil, 0, fail(http.StatusBadRequest, "%v", err)
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return "", nil, 0, err
	}
	params := r.URL.Query()
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var kind string
	var payload []byte
	switch mediaType {
	case "application/json":
		kind, payload = "json", body
	case "application/msgpack", "application/x-msgpack":
		kind, payload = "msgpack", body
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/jsonlines":
		kind, payload = "ndjson", body
	default:
		// Form body (or none): parameters json=, msgpack=, ndjson=.
		if len(body) > 0 {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return "", nil, 0, fail(http.StatusBadRequest, "bad form body: %v", err)
			}
			for k, v := range form {
				params[k] = append(params[k], v...)
			}
		}
		for _, k := range []string{"json", "msgpack", "ndjson"} {
			if v, ok := params[k]; ok && len(v) > 0 {
				kind, payload = k, []byte(v[0])
				break
			}
		}
		if kind == "" {
			return "", nil, 0, fail(http.StatusBadRequest, "'json', 'msgpack' or 'ndjson' parameter (or a JSON/msgpack/NDJSON Content-Type) is required")
		}
	}
	// Fluentd: a non-zero time parameter is every record's time; without
	// it each record's own numeric "time" is used, else now.
	defTime, force := time.Now().Unix(), false
	if v := params.Get("time"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
			return "", nil, 0, fail(http.StatusBadRequest, "time parameter %q is not a number of seconds", clip(v))
		}
		if f != 0 {
			defTime, force = int64(math.Floor(f)), true
		}
	}
	recs, n, err := DecodeRecords(kind, payload, defTime, force, s.cfg.MaxRecords)
	if err != nil {
		if errors.Is(err, ErrTooMany) {
			return "", nil, 0, fail(http.StatusRequestEntityTooLarge, "%v", err)
		}
		return "", nil, 0, fail(http.StatusBadRequest, "%v", err)
	}
	if n == 0 {
		return "", nil, 0, fail(http.StatusBadRequest, "no records")
	}
	return tag, recs, n, nil
}

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
	var zr io.Reader
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
		gz, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fail(http.StatusBadRequest, "bad gzip body: %v", err)
		}
		zr = gz
	case "deflate":
		zl, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fail(http.StatusBadRequest, "bad deflate (zlib) body: %v", err)
		}
		zr = zl
	default:
		return nil, fail(http.StatusBadRequest, "Content-Encoding %q is not supported (gzip, deflate)", clip(enc))
	}
	out, err := io.ReadAll(io.LimitReader(zr, s.cfg.MaxDecompressedBytes+1))
	if err != nil {
		return nil, fail(http.StatusBadRequest, "decompress body: %v", err)
	}
	if int64(len(out)) > s.cfg.MaxDecompressedBytes {
		return nil, fail(http.StatusRequestEntityTooLarge, "decompressed body is over the %d byte limit", s.cfg.MaxDecompressedBytes)
	}
	return out, nil
}

// ErrTooMany is returned by DecodeRecords when a payload holds more records
// than allowed.
var ErrTooMany = errors.New("too many records")

// ErrPayload is wrapped by DecodeRecords for undecodable payloads.
var ErrPayload = errors.New("bad payload")

// DecodeRecords decodes an in_http payload of kind "json" (an object or an
// array of objects), "ndjson" (one object per non-empty line) or "msgpack"
// (a map or an array of maps) into concatenated msgpack maps, each with an
// integer "time": defTime when force is set (Fluentd's time parameter),
// else the record's own numeric "time" if it has one, else defTime.
// maxRecords <= 0 means no limit.
func DecodeRecords(kind string, payload []byte, defTime int64, force bool, maxRecords int) ([]byte, int, error) {
	var out []byte
	n := 0
	add := func(v any) error {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%w: record %d is %s, not an object", ErrPayload, n, typeName(v))
		}
		if maxRecords > 0 && n >= maxRecords {
			return fmt.Errorf("%w: more than %d records", ErrTooMany, maxRecords)
		}
		var err error
		out, err = appendRecord(out, m, defTime, force)
		if err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		n++
		return nil
	}
	addAll := func(v any) error {
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if err := add(e); err != nil {
					return err
				}
			}
			return nil
		}
		return add(v)
	}
	switch kind {
	case "json":
		v, err := decodeJSON(payload)
		if err != nil {
			return nil, 0, err
		}
		if err := addAll(v); err != nil {
			return nil, 0, err
		}
	case "ndjson":
		for i, line := range bytes.Split(payload, []byte("\n")) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			v, err := decodeJSON(line)
			if err != nil {
				return nil, 0, fmt.Errorf("line %d: %w", i+1, err)
			}
			if err := add(v); err != nil {
				return nil, 0, err
			}
		}
	case "msgpack":
		v, err := decodeMsgpack(payload)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: msgpack: %v", ErrPayload, err)
		}
		if v, err = stringKeys(v, 0); err != nil {
			return nil, 0, err
		}
		if err := addAll(v); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, fmt.Errorf("%w: unknown payload kind %q", ErrPayload, kind)
	}
	return out, n, nil
}

const maxDepth = 256

// decodeMsgpack decodes one msgpack value. The msgpack library panics on a
// map whose key is itself a map or array (unhashable in Go); that panic is
// turned into an error here, as bad input must never take the process down.
func decodeMsgpack(payload []byte) (v any, err error) {
	// Lengths first: the library preallocates what a header declares.
	n, err := forwardin.ObjectLen(payload)
	if err != nil {
		return nil, err
	}
	if n != len(payload) {
		return nil, fmt.Errorf("%d bytes after the msgpack value", len(payload)-n)
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("map key is not a string: %v", r)
		}
	}()
	dec := msgpack.NewDecoder(bytes.NewReader(payload))
	dec.SetMapDecoder(func(d *msgpack.Decoder) (any, error) { return d.DecodeUntypedMap() })
	return dec.DecodeInterface()
}

// stringKeys turns msgpack maps into map[string]any (str or bin keys; other
// key types are refused, TD columns are names).
func stringKeys(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrPayload, maxDepth)
	}
	switch t := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			var ks string
			switch kk := k.(type) {
			case string:
				ks = kk
			case []byte:
				ks = string(kk)
			default:
				return nil, fmt.Errorf("%w: map key of type %s", ErrPayload, typeName(k))
			}
			y, err := stringKeys(x, depth+1)
			if err != nil {
				return nil, err
			}
			m[ks] = y
		}
		return m, nil
	case []any:
		for i, x := range t {
			y, err := stringKeys(x, depth+1)
			if err != nil {
				return nil, err
			}
			t[i] = y
		}
	}
	return v, nil
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: json: %v", ErrPayload, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: json: data after the value", ErrPayload)
	}
	return fromJSON(v), nil
}

// fromJSON turns json.Number into int64, uint64 or float64.
func fromJSON(v any) any {
	switch t := v.(type) {
	case json.Number:
		s := string(t)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return i
			}
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u
			}
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		for k, x := range t {
			t[k] = fromJSON(x)
		}
	case []any:
		for i, x := range t {
			t[i] = fromJSON(x)
		}
	}
	return v
}

// appendRecord encodes m with its "time" replaced by the integer event time.
func appendRecord(dst []byte, m map[string]any, defTime int64, force bool) ([]byte, error) {
	t := defTime
	if tv, ok := m["time"]; ok && !force {
		sec, err := numericSeconds(tv)
		if err != nil {
			return dst, err
		}
		t = sec
	}
	m["time"] = t
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	enc.UseCompactInts(true)
	enc.UseCompactFloats(false)
	if err := enc.Encode(m); err != nil {
		return dst, fmt.Errorf("%w: encode: %v", ErrPayload, err)
	}
	return append(dst, buf.Bytes()...), nil
}

func numericSeconds(v any) (int64, error) {
	var f float64
	switch t := v.(type) {
	case int64:
		return t, nil
	case uint64:
		if t > math.MaxInt64 {
			return 0, fmt.Errorf("%w: time %d out of range", ErrPayload, t)
		}
		return int64(t), nil
	case int8, int16, int32, uint8, uint16, uint32, int:
		i, _ := strconv.ParseInt(fmt.Sprint(t), 10, 64)
		return i, nil
	case float64:
		f = t
	case float32:
		f = float64(t)
	default:
		return 0, fmt.Errorf("%w: time is %s, not a number of seconds", ErrPayload, typeName(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, fmt.Errorf("%w: time %v out of range", ErrPayload, f)
	}
	return int64(math.Floor(f)), nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any, map[any]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
