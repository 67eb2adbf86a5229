// Package tdreceiver owns a local Treasure Data import API receiver: it
// accepts TD import requests (import and import_with_id of msgpack.gz and
// msgpack.zst bodies), database and table creation and listings, checks the TD1 API key,
// honours unique_id (a repeated id is answered 200 and not stored twice),
// keeps what it received in memory (and optionally in a directory), injects
// 500/429 failures on demand, and lets tests read back records, counts and
// sorted record hashes.
package tdreceiver

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spillwayhq/spillway/local/listen"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// DefaultAddr is the receiver's default listen address.
const DefaultAddr = "127.0.0.1:4568"

// ErrPortInUse is returned by Start when the configured address is taken.
// It is listen.ErrPortInUse, the same value for every local component.
var ErrPortInUse = listen.ErrPortInUse

// tdTimeLayout is how TD's API writes timestamps.
const tdTimeLayout = "2006-01-02 15:04:05 MST"

// Config configures the receiver. Defaults come from DefaultConfig.
type Config struct {
	// Addr is the listen address for Start; "127.0.0.1:0" picks a free port.
	Addr string
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
	// MaxBodyBytes bounds a request body (compressed).
	MaxBodyBytes int64
	// Limits bound the decoded stream.
	Limits Limits
	// Logger receives JSON logs; default discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// DefaultConfig returns DefaultAddr, a 64 MiB body limit and DefaultLimits.
func DefaultConfig() Config {
	return Config{Addr: DefaultAddr, MaxBodyBytes: 64 << 20, Limits: DefaultLimits(), Now: time.Now}
}

func (c *Config) applyDefaults() {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.Limits == (Limits{}) {
		c.Limits = d.Limits
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
		errs = append(errs, errors.New("tdreceiver.Config.MaxBodyBytes: must be positive"))
	}
	if c.Limits.MaxDecompressedBytes <= 0 || c.Limits.MaxRecords <= 0 || c.Limits.MaxDepth <= 0 || c.Limits.MaxKeys <= 0 {
		errs = append(errs, errors.New("tdreceiver.Config.Limits: every limit must be positive"))
	}
	if strings.ContainsAny(c.APIKey, " \t\r\n") {
		errs = append(errs, errors.New("tdreceiver.Config.APIKey: must not contain whitespace"))
	}
	return errors.Join(errs...)
}

type table struct {
	name       string
	createdAt  time.Time
	updatedAt  time.Time
	lastImport time.Time
	maxTime    int64
	records    []Record
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

// Server is the receiver; it is an http.Handler, and Start also listens.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	mu        sync.Mutex
	dbs       map[string]*database
	changed   chan struct{} // closed and replaced on every change
	seq       int
	duplicate int

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

// New builds a receiver without listening.
func New(cfg Config) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tdreceiver config: %w", err)
	}
	if cfg.APIKey == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		cfg.APIKey = "1/" + hex.EncodeToString(b[:])
	}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("tdreceiver: create dir: %w", err)
		}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, dbs: map[string]*database{}, changed: make(chan struct{})}
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

// APIKey is the accepted TD1 key.
func (s *Server) APIKey() string { return s.cfg.APIKey }

// ServeHTTP answers one TD API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

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

// FailNext makes the next n authenticated API requests fail with status
// (500 or 429, say); retryAfter, when positive, is sent as Retry-After in
// whole seconds (at least 1).
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	s.failLeft, s.failStatus, s.failAfter = n, status, retryAfter
}

// Failures is the number of failures injected so far.
func (s *Server) Failures() int {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failures
}

func (s *Server) injectFailure(w http.ResponseWriter) bool {
	s.failMu.Lock()
	if s.failLeft <= 0 {
		s.failMu.Unlock()
		return false
	}
	s.failLeft--
	s.failures++
	status, after := s.failStatus, s.failAfter
	s.failMu.Unlock()
	if after > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((after+time.Second-1)/time.Second))))
	}
	tdError(w, status, http.StatusText(status), "failure injected by the spillway TD receiver")
	return true
}

// failControl is the body of POST /_spillway/fail.
type failControl struct {
	Next       int    `json:"next"`
	Status     int    `json:"status"`
	RetryAfter string `json:"retry_after,omitempty"`
}

func (s *Server) handleFailControl(w http.ResponseWriter, r *http.Request) {
	var fc failControl
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "decode: " + err.Error()})
		return
	}
	var errs []error
	if fc.Next < 0 {
		errs = append(errs, errors.New("next: negative"))
	}
	if fc.Next > 0 && (fc.Status < 400 || fc.Status > 599) {
		errs = append(errs, fmt.Errorf("status: %d is not an HTTP error status", fc.Status))
	}
	var after time.Duration
	if fc.RetryAfter != "" {
		d, err := time.ParseDuration(fc.RetryAfter)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("retry_after: %q is not a duration", fc.RetryAfter))
		}
		after = d
	}
	if err := errors.Join(errs...); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.FailNext(fc.Next, fc.Status, after)
	writeJSON(w, http.StatusOK, map[string]int{"next": fc.Next, "failures": s.Failures()})
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

// notifyLocked wakes waiters; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) createDatabaseLocked(db string, now time.Time) *database {
	d := &database{name: db, createdAt: now, tables: map[string]*table{}}
	s.dbs[db] = d
	return d
}

func (s *Server) createTableLocked(d *database, tbl string, now time.Time) *table {
	t := &table{name: tbl, createdAt: now, updatedAt: now, ids: map[string]bool{}}
	d.tables[tbl] = t
	return t
}

func (s *Server) handleCreateDatabase(w http.ResponseWriter, r *http.Request) {
	db := r.PathValue("db")
	if !validNames(w, db, "") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dbs[db]; ok {
		tdError(w, http.StatusConflict, "Database "+db+" already exists", "Name has already been taken")
		return
	}
	s.createDatabaseLocked(db, s.cfg.Now())
	s.notifyLocked()
	writeJSON(w, http.StatusOK, map[string]string{"database": db})
}

func (s *Server) handleCreateTable(w http.ResponseWriter, r *http.Request) {
	db, tbl := r.PathValue("db"), r.PathValue("table")
	if typ := r.PathValue("type"); typ != "" && typ != "log" {
		tdError(w, http.StatusBadRequest, "Invalid table type", "only log tables are supported, got "+typ)
		return
	}
	if !validNames(w, db, tbl) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dbs[db]
	if !ok {
		tdError(w, http.StatusNotFound, "Database not found", "Couldn't find UserDatabase with name = "+db)
		return
	}
	if _, ok := d.tables[tbl]; ok {
		tdError(w, http.StatusConflict, "Table "+tbl+" already exists", "Name has already been taken")
		return
	}
	s.createTableLocked(d, tbl, s.cfg.Now())
	s.notifyLocked()
	writeJSON(w, http.StatusOK, map[string]string{"database": db, "table": tbl, "type": "log"})
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	start := s.cfg.Now()
	db, tbl, uid, format := r.PathValue("db"), r.PathValue("table"), r.PathValue("uid"), r.PathValue("format")
	if !validNames(w, db, tbl) {
		return
	}
	decode := DecodeStream
	switch format {
	case tdimport.FormatGzip:
	case tdimport.FormatZstd:
		decode = DecodeZstd
	default:
		tdError(w, http.StatusUnsupportedMediaType, "Unsupported format", "format "+format+" is not supported; use "+tdimport.FormatGzip+" or "+tdimport.FormatZstd)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1))
	if err != nil {
		tdError(w, http.StatusBadRequest, "Bad request", "read body: "+err.Error())
		return
	}
	if int64(len(body)) > s.cfg.MaxBodyBytes {
		tdError(w, http.StatusRequestEntityTooLarge, "Request entity too large", fmt.Sprintf("body over %d bytes", s.cfg.MaxBodyBytes))
		return
	}
	sum := md5.Sum(body)
	md5hex := hex.EncodeToString(sum[:])
	recs, err := decode(bytes.NewReader(body), s.cfg.Limits)
	if err != nil {
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, ErrTooLarge):
			status = http.StatusRequestEntityTooLarge
		case errors.Is(err, ErrBadRecord):
			status = http.StatusUnprocessableEntity
		}
		s.log.Warn("import rejected", "db", db, "table", tbl, "unique_id", uid, "format", format, "err", err)
		tdError(w, status, "Invalid import body", err.Error())
		return
	}
	s.mu.Lock()
	d, ok := s.dbs[db]
	if !ok && s.cfg.AutoCreate {
		d, ok = s.createDatabaseLocked(db, start), true
	}
	var t *table
	if ok {
		t = d.tables[tbl]
		if t == nil && s.cfg.AutoCreate {
			t = s.createTableLocked(d, tbl, start)
		}
	}
	if t == nil {
		s.mu.Unlock()
		tdError(w, http.StatusNotFound, "Table not found", "Couldn't find table "+db+"."+tbl)
		return
	}
	dup := uid != "" && t.ids[uid]
	if dup {
		s.duplicate++
	} else {
		if uid != "" {
			t.ids[uid] = true
		}
		s.seq++
		for _, rec := range recs {
			t.records = append(t.records, rec)
			t.hashes = append(t.hashes, HashRecord(rec))
			if tm := rec["time"].(int64); tm > t.maxTime {
				t.maxTime = tm
			}
		}
		t.imports++
		t.bytes += int64(len(body))
		t.lastImport, t.updatedAt = start, start
	}
	seq := s.seq
	s.notifyLocked()
	s.mu.Unlock()
	if !dup && s.cfg.Dir != "" {
		stored := body
		if format == tdimport.FormatZstd {
			stored, err = zstdToGzip(body, s.cfg.Limits)
		}
		if err == nil {
			err = s.persist(db, tbl, uid, seq, stored)
		}
		if err != nil {
			s.log.Error("persist import", "db", db, "table", tbl, "unique_id", uid, "err", err)
		}
	}
	s.log.Info("import", "db", db, "table", tbl, "unique_id", uid, "format", format, "records", len(recs), "duplicate", dup)
	writeJSON(w, http.StatusOK, map[string]any{
		"database": db, "table": tbl, "unique_id": uid, "md5_hex": md5hex,
		"elapsed_time": s.cfg.Now().Sub(start).Seconds(),
	})
}

// persist writes an accepted body atomically under Config.Dir.
func (s *Server) persist(db, tbl, uid string, seq int, body []byte) error {
	name := uid
	switch {
	case name == "":
		name = fmt.Sprintf("noid-%08d", seq)
	case !safeID.MatchString(name):
		h := sha256.Sum256([]byte(uid))
		name = "id-" + hex.EncodeToString(h[:16])
	}
	dir := filepath.Join(s.cfg.Dir, db, tbl)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	return os.Rename(f.Name(), filepath.Join(dir, name+".msgpack.gz"))
}

func tdTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(tdTimeLayout)
}

func (s *Server) tableDocLocked(t *table, id int) map[string]any {
	var last any
	if t.maxTime > 0 {
		last = tdTime(time.Unix(t.maxTime, 0))
	}
	return map[string]any{
		"id": id, "user_id": 1, "description": nil, "name": t.name, "type": "log",
		"count": len(t.records), "created_at": tdTime(t.createdAt), "updated_at": tdTime(t.updatedAt),
		"counter_updated_at": tdTime(t.lastImport), "last_log_timestamp": last,
		"delete_protected": false, "estimated_storage_size": t.bytes, "schema": "[]",
		"expire_days": nil, "primary_key": "time", "primary_key_type": "int", "include_v": true,
	}
}

func (s *Server) handleListTables(w http.ResponseWriter, r *http.Request) {
	db := r.PathValue("db")
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dbs[db]
	if !ok {
		tdError(w, http.StatusNotFound, "Database not found", "Couldn't find UserDatabase with name = "+db)
		return
	}
	tables := make([]map[string]any, 0, len(d.tables))
	for i, name := range sortedKeys(d.tables) {
		tables = append(tables, s.tableDocLocked(d.tables[name], i+1))
	}
	writeJSON(w, http.StatusOK, map[string]any{"database": db, "tables": tables})
}

func (s *Server) handleShowTable(w http.ResponseWriter, r *http.Request) {
	db, tbl := r.PathValue("db"), r.PathValue("table")
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dbs[db]
	if !ok || d.tables[tbl] == nil {
		tdError(w, http.StatusNotFound, "Table not found", "Couldn't find table "+db+"."+tbl)
		return
	}
	writeJSON(w, http.StatusOK, s.tableDocLocked(d.tables[tbl], 1))
}

func (s *Server) handleListDatabases(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]map[string]any, 0, len(s.dbs))
	for i, name := range sortedKeys(s.dbs) {
		d := s.dbs[name]
		count := 0
		updated := d.createdAt
		for _, t := range d.tables {
			count += len(t.records)
			if t.updatedAt.After(updated) {
				updated = t.updatedAt
			}
		}
		out = append(out, map[string]any{
			"id": strconv.Itoa(i + 1), "user_id": 1, "description": nil, "name": name, "organization": nil,
			"count": count, "created_at": tdTime(d.createdAt), "updated_at": tdTime(updated),
			"permission": "owner", "delete_protected": false,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"databases": out})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TableStat summarises one table the receiver holds.
type TableStat struct {
	Database, Table string
	// Records is the number of records stored (duplicates by unique_id are
	// not stored).
	Records int
	// Imports is the number of stored import requests.
	Imports int
}

// Tables lists every table with its counts, sorted by database and table.
func (s *Server) Tables() []TableStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []TableStat
	for _, dn := range sortedKeys(s.dbs) {
		d := s.dbs[dn]
		for _, tn := range sortedKeys(d.tables) {
			t := d.tables[tn]
			out = append(out, TableStat{Database: dn, Table: tn, Records: len(t.records), Imports: t.imports})
		}
	}
	return out
}

// Count is the number of records stored for db.table (0 when unknown).
func (s *Server) Count(db, tbl string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.dbs[db]; ok && d.tables[tbl] != nil {
		return len(d.tables[tbl].records)
	}
	return 0
}

// Records returns a copy of the records stored for db.table, in arrival
// order.
func (s *Server) Records(db, tbl string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.dbs[db]; ok && d.tables[tbl] != nil {
		return append([]Record(nil), d.tables[tbl].records...)
	}
	return nil
}

// Hashes returns the sorted HashRecord values of the records of db.table.
func (s *Server) Hashes(db, tbl string) []string {
	s.mu.Lock()
	var out []string
	if d, ok := s.dbs[db]; ok && d.tables[tbl] != nil {
		out = append(out, d.tables[tbl].hashes...)
	}
	s.mu.Unlock()
	sort.Strings(out)
	return out
}

// Duplicates is the number of import_with_id requests answered without
// storing because their unique_id was already stored.
func (s *Server) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicate
}

// WaitCount waits until db.table holds at least n records or ctx ends.
func (s *Server) WaitCount(ctx context.Context, db, tbl string, n int) error {
	for {
		s.mu.Lock()
		got := 0
		if d, ok := s.dbs[db]; ok && d.tables[tbl] != nil {
			got = len(d.tables[tbl].records)
		}
		ch := s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for %d records in %s.%s (have %d): %w", n, db, tbl, got, ctx.Err())
		}
	}
}

// Start builds the receiver, listens on cfg.Addr and serves until Close or
// ctx is cancelled. A taken port is reported as ErrPortInUse.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := listen.TCP("tdreceiver", s.cfg.Addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("tdreceiver serve", "err", err)
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

// URL is the receiver's base URL (set once Start returned).
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
			s.closeErr = fmt.Errorf("tdreceiver shutdown: %w", err)
			_ = s.srv.Close()
		}
		<-s.served
	})
	return s.closeErr
}
