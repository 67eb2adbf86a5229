// Package ingest owns the ingest Lambda: the API Gateway handler (HTTP API
// events, payload 2.0, and REST API events, payload 1.0) that speaks
// Treasure Data's import API and Fluentd's in_http, serves catalog listings
// and /v1/flush, authenticates TD1 API keys, enforces input limits, and
// acknowledges a request only after every part of it is in Kinesis as
// shared/envelope records.
package ingest

import (
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
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/spillwayhq/spillway/functions/ingest/apikeys"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/kinesisput"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// DynamoAPI is the part of the DynamoDB client ingest needs (catalog reads
// and creates, API key lookups). Its methods are what ingest's IAM role
// allows (a test in infra/terraform compares them).
type DynamoAPI interface {
	apikeys.ReadAPI
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// InvokeAPI is the part of the Lambda client ingest needs for /v1/flush.
type InvokeAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var (
	_ DynamoAPI = (*dynamodb.Client)(nil)
	_ InvokeAPI = (*lambda.Client)(nil)
)

// Deps are the handler's collaborators. Kinesis and DynamoDB are required;
// Lambda only for /v1/flush.
type Deps struct {
	Kinesis  kinesisput.PutRecordsAPI
	DynamoDB DynamoAPI
	Lambda   InvokeAPI
	Logger   *slog.Logger       // defaults to JSON on stderr
	Metrics  io.Writer          // CloudWatch EMF lines; defaults to stdout
	Now      func() time.Time   // defaults to time.Now
	Put      kinesisput.Options // retry tuning for PutRecords
}

// Handler is the ingest Lambda handler. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	d       Deps
	log     *slog.Logger
	metrics *emitter
	cache   ttlCache
	refused negativeCache
}

// New validates cfg and returns a handler.
func New(cfg Config, d Deps) (*Handler, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if d.Kinesis == nil {
		errs = append(errs, errors.New("deps: Kinesis client required"))
	}
	if d.DynamoDB == nil {
		errs = append(errs, errors.New("deps: DynamoDB client required"))
	}
	if cfg.FlushFunction != "" && d.Lambda == nil {
		errs = append(errs, errors.New("deps: Lambda client required when FlushFunction is set"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if d.Metrics == nil {
		d.Metrics = os.Stdout
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	h := &Handler{cfg: cfg, d: d, log: d.Logger, metrics: &emitter{w: d.Metrics, now: d.Now}}
	h.cache.ttl, h.cache.now = cfg.CacheTTL, d.Now
	h.refused.ttl, h.refused.max, h.refused.now = cfg.NegativeCacheTTL, negativeCacheMax, d.Now
	return h, nil
}

// request is one decoded API Gateway request.
type request struct {
	ev      *events.APIGatewayV2HTTPRequest
	method  string
	segs    []string // unescaped path segments
	route   string   // route name for logs and metrics
	started time.Time
	key     *apikeys.Key // nil in IAM mode
	log     *slog.Logger
}

func (r *request) header(name string) string {
	for k, v := range r.ev.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Handle serves one API Gateway HTTP API (payload 2.0) request. Failures are
// answered with TD's status codes and JSON error; the returned error is
// always nil so that API Gateway never turns a handled failure into a 500.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r := &request{ev: &ev, started: h.d.Now()}
	r.method = strings.ToUpper(ev.RequestContext.HTTP.Method)
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if st := ev.RequestContext.Stage; st != "" && st != "$default" && strings.HasPrefix(path, "/"+st+"/") {
		path = path[len(st)+1:]
	}
	segs, err := splitPath(path)
	r.segs = segs
	r.log = h.log.With("method", r.method, "path", clip(path, 300), "request_id", ev.RequestContext.RequestID)
	var resp events.APIGatewayV2HTTPResponse
	var aerr *apiError
	if err != nil {
		r.route = "unknown"
		aerr = reject(http.StatusNotFound, reasonNoRoute, "invalid path: %v", err)
	} else {
		resp, aerr = h.route(ctx, r)
	}
	if aerr != nil {
		return h.fail(r, aerr), nil
	}
	return resp, nil
}

func splitPath(p string) ([]string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil, nil
	}
	raw := strings.Split(p, "/")
	out := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, err
		}
		out[i] = u
	}
	return out, nil
}

// route dispatches on method and path.
func (h *Handler) route(ctx context.Context, r *request) (events.APIGatewayV2HTTPResponse, *apiError) {
	s := r.segs
	is := func(method string, parts ...string) bool {
		if len(s) < len(parts) {
			return false
		}
		for i, p := range parts {
			if s[i] != p {
				return false
			}
		}
		return r.method == method
	}
	n := len(s)
	switch {
	case n == 6 && is(http.MethodPut, "v3", "table", "import"):
		r.route = "import"
		return h.handleImport(ctx, r, s[3], s[4], "", s[5])
	case n == 7 && is(http.MethodPut, "v3", "table", "import_with_id"):
		r.route = "import"
		return h.handleImport(ctx, r, s[3], s[4], s[5], s[6])
	case n == 3 && is(http.MethodGet, "v3", "database", "list"):
		r.route = "database_list"
		return h.handleDatabaseList(ctx, r)
	case n == 4 && is(http.MethodGet, "v3", "table", "list"):
		r.route = "table_list"
		return h.handleTableList(ctx, r, s[3])
	case n == 5 && is(http.MethodGet, "v3", "table", "show"):
		r.route = "table_show"
		return h.handleTableShow(ctx, r, s[3], s[4])
	case n == 4 && is(http.MethodPost, "v3", "database", "create"):
		r.route = "database_create"
		return h.handleCreate(ctx, r, s[3], "")
	case (n == 5 || n == 6) && is(http.MethodPost, "v3", "table", "create"):
		r.route = "table_create"
		if n == 6 && s[5] != "log" {
			return events.APIGatewayV2HTTPResponse{}, reject(http.StatusBadRequest, reasonFormat, "table type %q is not supported (only \"log\")", clip(s[5], 64))
		}
		return h.handleCreate(ctx, r, s[3], s[4])
	case n == 2 && is(http.MethodPost, "v1", "flush"):
		r.route = "flush"
		return h.handleFlush(ctx, r)
	case n == 1 && r.method == http.MethodPost && s[0] != "v1" && s[0] != "v3":
		r.route = "in_http"
		return h.handleInHTTP(ctx, r, s[0])
	}
	r.route = "unknown"
	if n > 0 && (s[0] == "v3" || s[0] == "v1") && knownPath(s) {
		return events.APIGatewayV2HTTPResponse{}, reject(http.StatusMethodNotAllowed, reasonMethod, "method %s is not allowed on %s", r.method, "/"+strings.Join(s, "/"))
	}
	return events.APIGatewayV2HTTPResponse{}, reject(http.StatusNotFound, reasonNoRoute, "no route for %s /%s", r.method, clip(strings.Join(s, "/"), 200))
}

// knownPath reports whether s names a route under another method.
func knownPath(s []string) bool {
	if len(s) < 2 {
		return false
	}
	switch s[0] + "/" + s[1] {
	case "v3/table", "v3/database":
		if len(s) < 3 {
			return false
		}
		switch s[2] {
		case "import", "import_with_id", "list", "show", "create":
			return true
		}
	case "v1/flush":
		return len(s) == 2
	}
	return false
}

// access is what a route needs from the caller's key.
type access int

const (
	accessWrite access = iota
	accessRead
	accessFlush // POST /v1/flush: an explicit permission, not implied by write
)

// negativeCacheMax bounds the refused-key cache of one warm function.
const negativeCacheMax = 10000

// msgInvalidKey answers unknown and revoked keys alike, so that a caller
// cannot tell a revoked key from one that never existed.
const msgInvalidKey = "invalid API key"

// authenticate resolves the caller's scope: a TD1 key in apikey mode, or, for
// a request that API Gateway's IAM authorizer verified
// (requestContext.authorizer.iam, set only by API Gateway on AWS_IAM routes
// such as the optional SigV4 API) and in iam mode, the caller's entry in
// Config.IAMScopes. It does not check database scope; see authorize.
func (h *Handler) authenticate(ctx context.Context, r *request) *apiError {
	if h.cfg.AuthMode == AuthIAM || iamAuthorized(r.ev) {
		k, aerr := h.iamKey(r.ev)
		r.key = k
		return aerr
	}
	auth := strings.TrimSpace(r.header("Authorization"))
	scheme, key, ok := strings.Cut(auth, " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "TD1") || key == "" {
		return reject(http.StatusUnauthorized, reasonUnauthorized, "authorization required: send \"Authorization: TD1 <apikey>\"")
	}
	hash := apikeys.Hash(key)
	if v, ok := h.cache.get("key\x00" + hash); ok {
		r.key = v.(*apikeys.Key)
		return nil
	}
	if h.refused.has(hash) {
		return reject(http.StatusUnauthorized, reasonUnauthorized, msgInvalidKey)
	}
	k, err := apikeys.Get(ctx, h.d.DynamoDB, h.cfg.APIKeysTable, hash)
	if errors.Is(err, apikeys.ErrNotFound) || (err == nil && k.Revoked) {
		h.refused.add(hash)
		return reject(http.StatusUnauthorized, reasonUnauthorized, msgInvalidKey)
	}
	if err != nil {
		return unavailable("API key lookup", err)
	}
	h.cache.put("key\x00"+hash, k)
	r.key = k
	return nil
}

// iamAuthorized reports whether API Gateway verified the caller's SigV4
// signature for this request.
func iamAuthorized(ev *events.APIGatewayV2HTTPRequest) bool {
	a := ev.RequestContext.Authorizer
	return a != nil && a.IAM != nil && a.IAM.UserARN+a.IAM.CallerID+a.IAM.AccessKey != ""
}

// authorize checks that the caller may use db with the given access. db ""
// means every database (only keys scoped to "*" qualify).
func (h *Handler) authorize(r *request, db string, a access) *apiError {
	if r.key == nil {
		return nil
	}
	k := r.key
	switch {
	case a == accessWrite && !k.CanWrite:
		return reject(http.StatusForbidden, reasonForbidden, "API key %q may not write", k.Name)
	case a == accessRead && !k.CanRead:
		return reject(http.StatusForbidden, reasonForbidden, "API key %q may not read", k.Name)
	case a == accessFlush && !k.CanFlush:
		return reject(http.StatusForbidden, reasonForbidden, "API key %q may not flush (create it with -flush)", k.Name)
	case db == "" && !k.Allows(apikeys.AllDatabases):
		return reject(http.StatusForbidden, reasonForbidden, "API key %q is not scoped to all databases", k.Name)
	case db != "" && !k.Allows(db):
		return reject(http.StatusForbidden, reasonForbidden, "API key %q has no access to database %q", k.Name, db)
	}
	return nil
}

func validateNames(db, table string) *apiError {
	if err := names.Validate("database", db); err != nil {
		return reject(http.StatusBadRequest, reasonBadName, "%v", err)
	}
	if table == "" {
		return nil
	}
	if err := names.Validate("table", table); err != nil {
		return reject(http.StatusBadRequest, reasonBadName, "%v", err)
	}
	return nil
}

// maxUniqueID bounds a client's unique_id; it lands in DynamoDB and S3 keys.
const maxUniqueID = 128

func validateUniqueID(id string) *apiError {
	if id == "" || len(id) > maxUniqueID {
		return reject(http.StatusBadRequest, reasonBadUniqueID, "unique_id must be 1 to %d characters long", maxUniqueID)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' {
			continue
		}
		return reject(http.StatusBadRequest, reasonBadUniqueID, "unique_id may only contain [A-Za-z0-9_-], found %q at byte %d", c, i)
	}
	return nil
}

// requestUniqueID is the unique_id of a request that brings none: the first
// 128 bits of SHA-256 over scope (db and table, or the in_http tag) and the
// request's own identity, API Gateway's request id (unique per request;
// the Lambda request id, then a random id, when the event has none). Never
// the content: two identical requests are two imports, as Fluentd and TD
// keep them, and only a delivery of the same request shares its id.
func requestUniqueID(ctx context.Context, r *request, scope ...string) string {
	id := r.ev.RequestContext.RequestID
	if id == "" {
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			id = "lambda:" + lc.AwsRequestID
		}
	}
	if id == "" || id == "lambda:" {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		id = "random:" + hex.EncodeToString(b[:])
	}
	s := sha256.New()
	for _, p := range append(scope, id) {
		_, _ = s.Write([]byte(p))
		_, _ = s.Write([]byte{0})
	}
	return hex.EncodeToString(s.Sum(nil)[:16])
}

// importResponse is TD's import answer.
type importResponse struct {
	Database    string  `json:"database"`
	Table       string  `json:"table"`
	UniqueID    string  `json:"unique_id,omitempty"`
	MD5Hex      string  `json:"md5_hex"`
	ElapsedTime float64 `json:"elapsed_time"`
}

func (h *Handler) handleImport(ctx context.Context, r *request, db, table, uid, format string) (events.APIGatewayV2HTTPResponse, *apiError) {
	if aerr := h.prologue(ctx, r, db, table, accessWrite); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	r.log = r.log.With("db", db, "table", table)
	given := uid != ""
	if given {
		if aerr := validateUniqueID(uid); aerr != nil {
			return events.APIGatewayV2HTTPResponse{}, aerr
		}
	}
	c, ok := compression(format)
	if !ok {
		return events.APIGatewayV2HTTPResponse{}, unsupportedFormat(format)
	}
	body, aerr := requestBody(r.ev.Body, r.ev.IsBase64Encoded, h.cfg.Limits)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	sum := md5.Sum(body)
	if !given {
		// The request is its own identity, never its content (DESIGN.md,
		// guarantee 7): byte-identical bodies from two hosts are two imports.
		uid = requestUniqueID(ctx, r, db, table)
	}
	r.log = r.log.With("unique_id", uid, "format", format)
	bufp := rawBuffers.Get().(*[]byte)
	defer func() { rawBuffers.Put(bufp) }()
	raw, aerr := decompress(c, body, h.cfg.Limits, *bufp)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	if cap(raw) <= maxPooledBuffer {
		*bufp = raw[:0]
	}
	b, aerr := decodeMsgpackStream(raw, h.cfg.Limits)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	// A body that fits one record passes through as it came, gzip or zstd
	// (the envelope says which); a bigger one is cut into parts.
	enc := envelope.EncodingGzip
	if format == tdimport.FormatZstd {
		enc = envelope.EncodingZstd
	}
	if aerr := h.write(ctx, r, db, table, uid, b, body, enc, len(body)); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	out, _ := json.Marshal(importResponse{
		Database: db, Table: table, UniqueID: uidIf(given, uid), MD5Hex: hex.EncodeToString(sum[:]),
		ElapsedTime: h.d.Now().Sub(r.started).Seconds(),
	})
	resp := jsonResponse(http.StatusOK, string(out))
	resp.Headers[acceptEncodingHeader] = "zstd"
	return resp, nil
}

// acceptEncodingHeader tells import clients that msgpack.zst bodies are
// taken too: spillway-forwarder's compression auto sends zstd only to an
// endpoint that answered with it (forwarder/output.AcceptEncodingHeader).
const acceptEncodingHeader = "X-Spillway-Accept-Encoding"

func uidIf(given bool, uid string) string {
	if given {
		return uid
	}
	return ""
}

// maxPooledBuffer caps the decompression buffer kept for the next request.
const maxPooledBuffer = 64 << 20

var rawBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

// unsupportedFormat is the 415 for an import format other than
// tdimport.FormatGzip and FormatZstd (clients such as the forwarder fall
// back to gzip on it).
func unsupportedFormat(format string) *apiError {
	return reject(http.StatusUnsupportedMediaType, reasonFormat, "import format %q is not supported; use %s or %s", clip(format, 64), tdimport.FormatGzip, tdimport.FormatZstd)
}

// write checks the catalog and puts every part of b into Kinesis; it returns
// only when all parts are in (nil) or the request must be retried. orig, when
// not nil, is the client's own compression of b.raw, origEnc (an envelope
// encoding) says which; it is passed through when it fits one record.
// compressed is the request body's size, for the log.
func (h *Handler) write(ctx context.Context, r *request, db, table, uid string, b *batch, orig []byte, origEnc string, compressed int) *apiError {
	if aerr := h.ensureTable(ctx, db, table); aerr != nil {
		return aerr
	}
	meta := envelope.Envelope{
		DB: db, Table: table, UniqueID: uid, Producer: clip(r.ev.RequestContext.HTTP.SourceIP, maxProducer),
		ReceivedMS: h.d.Now().UnixMilli(), Encoding: splitEncoding, // each part sets its own
	}
	if p := r.header("X-Spillway-Producer"); p != "" {
		meta.Producer = clip(p, maxProducer)
	}
	parts, aerr := splitParts(b, orig, origEnc, splitEncoding, partBudget)
	if aerr != nil {
		return aerr
	}
	entries, err := records(meta, parts)
	if err != nil {
		return &apiError{Status: http.StatusInternalServerError, Reason: reasonInternal, Message: "could not build Kinesis records", Cause: err}
	}
	putCtx, cancel := h.putContext(ctx)
	defer cancel()
	st, err := kinesisput.PutWith(putCtx, h.d.Kinesis, h.cfg.StreamName, entries, h.d.Put)
	bytesIn := len(b.raw)
	fields := map[string]float64{"KinesisRetries": float64(st.Retried), "KinesisThrottles": float64(st.Throttled)}
	if err != nil {
		var aerr *apiError
		switch {
		case errors.Is(err, kinesisput.ErrThrottled):
			aerr = &apiError{Status: http.StatusTooManyRequests, Reason: reasonThrottled, Message: "the stream is throttled; retry with the same unique_id", Cause: err}
		case errors.Is(err, kinesisput.ErrIncomplete):
			aerr = &apiError{Status: http.StatusServiceUnavailable, Reason: reasonUnavailable, Message: "could not write every part to the stream in time; retry with the same unique_id", Cause: err}
		default:
			aerr = &apiError{Status: http.StatusInternalServerError, Reason: reasonInternal, Message: "could not write to the stream", Cause: err}
		}
		h.metrics.emit(r.route, aerr.Reason, fields)
		aerr.Reason = "" // already counted
		r.log.Warn("kinesis put failed", "status", aerr.Status, "error", err.Error(), "events", b.events(), "bytes", bytesIn, "records", len(entries), "retried", st.Retried, "throttled", st.Throttled)
		return aerr
	}
	lat := h.d.Now().Sub(r.started)
	fields["AcceptedEvents"] = float64(b.events())
	fields["AcceptedBytes"] = float64(bytesIn)
	fields["KinesisRecords"] = float64(len(entries))
	fields["Latency"] = float64(lat.Milliseconds())
	h.metrics.emit(r.route, "", fields)
	r.log.Info("accepted", "events", b.events(), "bytes", bytesIn, "compressed_bytes", compressed, "records", len(entries),
		"min_time", b.minT, "max_time", b.maxT, "retried", st.Retried, "latency_ms", lat.Milliseconds())
	return nil
}

// putContext bounds the Kinesis write by PutTimeout (keep it under API
// Gateway's 30 s integration timeout) and by the invocation's deadline minus
// DeadlineMargin, whichever comes first.
func (h *Handler) putContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl := time.Now().Add(h.cfg.PutTimeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-h.cfg.DeadlineMargin).Before(dl) {
		dl = d.Add(-h.cfg.DeadlineMargin)
	}
	return context.WithDeadline(ctx, dl)
}

// fail answers a rejected request and logs and counts it.
func (h *Handler) fail(r *request, e *apiError) events.APIGatewayV2HTTPResponse {
	if e.Reason != "" {
		h.metrics.emit(r.route, e.Reason, nil)
	}
	lvl := slog.LevelInfo
	if e.Status >= 500 {
		lvl = slog.LevelError
	}
	attrs := []any{"route", r.route, "status", e.Status, "reason", e.Reason, "message", e.Message, "latency_ms", h.d.Now().Sub(r.started).Milliseconds()}
	if e.Cause != nil {
		attrs = append(attrs, "error", e.Cause.Error())
	}
	r.log.Log(context.Background(), lvl, "rejected", attrs...)
	ra := int(h.cfg.RetryAfter / time.Second)
	return events.APIGatewayV2HTTPResponse{StatusCode: e.Status, Headers: e.headers(ra), Body: e.body()}
}

func jsonResponse(status int, body string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json; charset=utf-8"}, Body: body}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
