// Package apigw is a local Amazon API Gateway HTTP API: an http.Handler that
// matches route keys, builds Lambda proxy events in payload format 2.0
// (events.APIGatewayV2HTTPRequest) as AWS does, calls an invoke function
// (typically lambdarun.Runner.Invoke) and turns the
// events.APIGatewayV2HTTPResponse back into HTTP.
//
//	gw, err := apigw.New(apigw.Config{
//		Routes: []apigw.Route{{Key: "PUT /v3/table/import/{db}/{table}/{format}"}, {Key: "$default"}},
//		Invoke: runner.Invoke,
//	})
//	http.Serve(ln, gw)
//
// RoutesFromAPI builds the Routes from a deployed API (GetRoutes and
// GetIntegrations through the edge), so the local front serves exactly the
// routes and integration timeouts Terraform created.
//
// Behaviour mirrored from AWS:
//   - route keys "METHOD /path/{var}/{proxy+}" (METHOD may be ANY) and
//     "$default"; the most specific matching route wins (literal segment over
//     {var} over {proxy+}, named method over ANY, $default last); no match
//     answers 404 {"message":"Not Found"};
//   - header names lower-cased, repeated headers and query parameters joined
//     with commas, the Cookie header moved to cookies, x-forwarded-for/-port/
//     -proto and x-amzn-trace-id added;
//   - bodies whose Content-Type is not text/*, application/json,
//     application/xml or application/javascript are base64-encoded with
//     isBase64Encoded true (see IsTextContentType), whatever their
//     Content-Encoding; text bodies are passed as UTF-8 strings, bytes that
//     are not UTF-8 replaced by U+FFFD (see TextBody): a gzip body sent as
//     application/json arrives mangled, as on AWS;
//   - bodies above 10 MB answer 413 {"message":"Request Entity Too Large"}
//     (the rest of the body is read first, so that a client that writes its
//     whole request before reading sees the answer, not a reset);
//   - an integration slower than 30 s (or the route's Timeout) answers 503
//     {"message":"Service Unavailable"};
//   - an invoke error (function error, crash, timeout) or a malformed
//     response answers 500 {"message":"Internal Server Error"};
//   - a response without statusCode is sent as 200 application/json with the
//     payload as body; cookies become Set-Cookie headers; every response
//     carries Apigw-Requestid.
package apigw

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// InvokeFunc invokes the integration's function with an event and returns
// its response payload.
type InvokeFunc func(ctx context.Context, payload []byte) ([]byte, error)

// Route is one route of the API.
type Route struct {
	// Key is the route key: "$default" or "METHOD /path" with {var} and a
	// trailing greedy {var+}.
	Key string
	// Invoke is this route's integration; nil uses Config.Invoke.
	Invoke InvokeFunc
	// Timeout is this route's integration timeout; 0 uses
	// Config.IntegrationTimeout.
	Timeout time.Duration
}

// Config configures a Gateway. Zero fields get the defaults from Defaults.
type Config struct {
	// Routes are the API's routes; at least one.
	Routes []Route
	// Invoke is the integration of routes that have none.
	Invoke InvokeFunc
	// APIID is requestContext.apiId (default "spillway").
	APIID string
	// AccountID is requestContext.accountId (default "000000000000").
	AccountID string
	// Stage is requestContext.stage (default "$default").
	Stage string
	// MaxBodyBytes is the request body limit (default 10 MB).
	MaxBodyBytes int64
	// IntegrationTimeout bounds each invocation (default 30s).
	IntegrationTimeout time.Duration
	// Now is the clock for requestContext.time (default time.Now).
	Now func() time.Time
	// Logger gets one debug line per request (default slog.Default()).
	Logger *slog.Logger
}

// Defaults returns cfg with every zero field set to its default.
func Defaults(cfg Config) Config {
	if cfg.APIID == "" {
		cfg.APIID = "spillway"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.Stage == "" {
		cfg.Stage = "$default"
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 10 * 1024 * 1024
	}
	if cfg.IntegrationTimeout == 0 {
		cfg.IntegrationTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// Validate reports every problem in cfg at once.
func (cfg Config) Validate() error {
	var errs []error
	if len(cfg.Routes) == 0 {
		errs = append(errs, errors.New("routes: at least one route is required"))
	}
	keys := map[string]bool{}
	for i, r := range cfg.Routes {
		if _, err := parseRoute(r.Key); err != nil {
			errs = append(errs, fmt.Errorf("routes[%d].key: %w", i, err))
		}
		if keys[r.Key] {
			errs = append(errs, fmt.Errorf("routes[%d].key: duplicate route key %q", i, r.Key))
		}
		keys[r.Key] = true
		if r.Timeout < 0 {
			errs = append(errs, fmt.Errorf("routes[%d].timeout: %s is negative", i, r.Timeout))
		}
		if r.Invoke == nil && cfg.Invoke == nil {
			errs = append(errs, fmt.Errorf("routes[%d].invoke: no integration (set it or Config.Invoke)", i))
		}
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("max_body_bytes: %d is negative", cfg.MaxBodyBytes))
	}
	if cfg.IntegrationTimeout < 0 {
		errs = append(errs, fmt.Errorf("integration_timeout: %s is negative", cfg.IntegrationTimeout))
	}
	return errors.Join(errs...)
}

// Gateway is the HTTP API. It is an http.Handler, safe for concurrent use.
type Gateway struct {
	cfg    Config
	routes []*route
	usage  usageCounter
}

// New validates cfg (after Defaults) and returns the Gateway.
func New(cfg Config) (*Gateway, error) {
	cfg = Defaults(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("apigw config: %w", err)
	}
	g := &Gateway{cfg: cfg}
	for _, r := range cfg.Routes {
		rt, _ := parseRoute(r.Key) // validated above
		rt.invoke = r.Invoke
		if rt.invoke == nil {
			rt.invoke = cfg.Invoke
		}
		rt.timeout = r.Timeout
		if rt.timeout == 0 {
			rt.timeout = cfg.IntegrationTimeout
		}
		g.routes = append(g.routes, rt)
	}
	return g, nil
}

// Match returns the route key that a request with method and (escaped)
// path would take, its decoded path parameters, and false if none matches.
func (g *Gateway) Match(method, escapedPath string) (string, map[string]string, bool) {
	rt, params := g.match(method, escapedPath)
	if rt == nil {
		return "", nil, false
	}
	return rt.key, params, true
}

func (g *Gateway) match(method, escapedPath string) (*route, map[string]string) {
	var best *route
	var bestParams map[string]string
	for _, rt := range g.routes {
		params, err := rt.match(method, escapedPath)
		if err != nil {
			continue
		}
		if best == nil || moreSpecific(rt, best) {
			best, bestParams = rt, params
		}
	}
	return best, bestParams
}

// Error bodies API Gateway answers with.
const (
	msgNotFound    = "Not Found"
	msgTooLarge    = "Request Entity Too Large"
	msgUnavailable = "Service Unavailable"
	msgInternal    = "Internal Server Error"
)

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	now := g.cfg.Now()
	reqID := newRequestID()
	w.Header().Set("Apigw-Requestid", reqID)
	body := &countingBody{r: r.Body}
	r.Body = body
	cw := &countingResponse{ResponseWriter: w}
	status, routeKey := g.serve(cw, r, now, reqID)
	g.usage.add(body.n, cw.n)
	g.cfg.Logger.Debug("api request", "request_id", reqID, "method", r.Method, "path", r.URL.Path,
		"route", routeKey, "status", status, "duration_ms", float64(time.Since(start).Microseconds())/1000)
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, now time.Time, reqID string) (int, string) {
	rt, params := g.match(r.Method, r.URL.EscapedPath())
	if rt == nil {
		return writeMessage(w, http.StatusNotFound, msgNotFound), ""
	}
	if r.ContentLength > g.cfg.MaxBodyBytes {
		return tooLarge(w, r), rt.key
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.cfg.MaxBodyBytes+1))
	if err != nil {
		return writeMessage(w, http.StatusBadRequest, "Bad Request"), rt.key
	}
	if int64(len(body)) > g.cfg.MaxBodyBytes {
		return tooLarge(w, r), rt.key
	}
	ev := g.BuildEvent(r, body, rt.key, params, now, reqID)
	payload, err := MarshalEvent(ev)
	if err != nil {
		return writeMessage(w, http.StatusInternalServerError, msgInternal), rt.key
	}
	ctx, cancel := context.WithTimeout(r.Context(), rt.timeout)
	defer cancel()
	out, err := rt.invoke(ctx, payload)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded && r.Context().Err() == nil {
			g.cfg.Logger.Warn("integration timed out", "request_id", reqID, "route", rt.key, "timeout", rt.timeout.String())
			return writeMessage(w, http.StatusServiceUnavailable, msgUnavailable), rt.key
		}
		g.cfg.Logger.Warn("integration failed", "request_id", reqID, "route", rt.key, "error", err.Error())
		return writeMessage(w, http.StatusInternalServerError, msgInternal), rt.key
	}
	resp, err := DecodeResponse(out)
	if err != nil {
		g.cfg.Logger.Warn("malformed integration response", "request_id", reqID, "route", rt.key, "error", err.Error())
		return writeMessage(w, http.StatusInternalServerError, msgInternal), rt.key
	}
	return writeResponse(w, resp), rt.key
}

// maxDrain bounds what tooLarge reads and discards of a refused body.
const maxDrain = 256 << 20

// tooLarge answers 413 {"message":"Request Entity Too Large"} to a request
// whose body is over the limit. It first reads and discards the rest of the
// body (up to maxDrain) and closes the connection afterwards: a client that
// writes its whole request before reading the answer (curl, Fluent Bit)
// would otherwise have its connection reset under it by the unread data and
// never see the 413.
func tooLarge(w http.ResponseWriter, r *http.Request) int {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
	w.Header().Set("Connection", "close")
	return writeMessage(w, http.StatusRequestEntityTooLarge, msgTooLarge)
}

// BuildEvent builds the payload format 2.0 event for r with its already
// read body. routeKey and params are the matched route; now and reqID fill
// requestContext.
func (g *Gateway) BuildEvent(r *http.Request, body []byte, routeKey string, params map[string]string, now time.Time, reqID string) events.APIGatewayV2HTTPRequest {
	sourceIP, port := clientAddr(r)
	headers := map[string]string{}
	var cookies []string
	for name, vals := range r.Header {
		lname := strings.ToLower(name)
		if lname == "cookie" {
			for _, v := range vals {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lname] = strings.Join(vals, ",")
	}
	headers["host"] = r.Host
	headers["content-length"] = strconv.Itoa(len(body))
	if xff := headers["x-forwarded-for"]; xff != "" {
		headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-port"] = port
	headers["x-forwarded-proto"] = "http"
	if r.TLS != nil {
		headers["x-forwarded-proto"] = "https"
	}
	if headers["x-amzn-trace-id"] == "" {
		headers["x-amzn-trace-id"] = newTraceID(now)
	}
	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = make(map[string]string, len(q))
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	domain := r.Host
	if h, _, err := net.SplitHostPort(domain); err == nil {
		domain = h
	}
	prefix, _, _ := strings.Cut(domain, ".")
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    g.cfg.AccountID,
			Stage:        g.cfg.Stage,
			RequestID:    reqID,
			APIID:        g.cfg.APIID,
			DomainName:   domain,
			DomainPrefix: prefix,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if IsTextContentType(r.Header.Get("Content-Type")) {
			ev.Body = TextBody(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// emptyAuthentication is what aws-lambda-go's struct encodes for a request
// without mTLS; API Gateway omits the field then.
var emptyAuthentication = []byte(`,"authentication":{"clientCert":{"clientCertPem":"","issuerDN":"","serialNumber":"","subjectDN":"","validity":{"notAfter":"","notBefore":""}}}`)

// MarshalEvent encodes ev as API Gateway sends it: no HTML escaping, and
// no requestContext.authentication unless a client certificate is set.
func MarshalEvent(ev events.APIGatewayV2HTTPRequest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encode api gateway event: %w", err)
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if ev.RequestContext.Authentication.ClientCert.ClientCertPem == "" {
		// Strings in the event are JSON-escaped, so the first occurrence
		// is the structural one.
		out = bytes.Replace(out, emptyAuthentication, nil, 1)
	}
	return out, nil
}

// IsTextContentType reports whether an HTTP API passes a body of this
// Content-Type as text: only text/*, application/json, application/xml and
// application/javascript. Everything else - a missing type,
// application/x-www-form-urlencoded, multipart/form-data, +json suffixes -
// is base64-encoded. (The AWS docs do not list the types; this is the set
// observed on real HTTP APIs, as recorded by the ministack emulator.)
func IsTextContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") ||
		mt == "application/json" || mt == "application/xml" || mt == "application/javascript"
}

// TextBody is body as an HTTP API passes it under a text Content-Type: a
// UTF-8 string in which every byte that is not part of valid UTF-8 is
// replaced by U+FFFD. Compressed bytes (Content-Encoding gzip, deflate,
// zstd) are therefore lost: API Gateway HTTP APIs have no binaryMediaTypes
// and do not decompress request bodies (that is a REST API feature), so
// only a non-text Content-Type brings such a body to the function intact
// (base64). See local/README.md, "Request bodies", for the sources.
func TextBody(body []byte) string {
	if utf8.Valid(body) {
		return string(body)
	}
	var b strings.Builder
	b.Grow(len(body) + 16)
	for len(body) > 0 {
		r, n := utf8.DecodeRune(body)
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.Write(body[:n])
		}
		body = body[n:]
	}
	return b.String()
}

// DecodeResponse interprets a function's response payload as API Gateway
// does for payload format 2.0: a JSON object with statusCode is an
// events.APIGatewayV2HTTPResponse; any other valid JSON is the body of a 200
// application/json response; invalid JSON is an error.
func DecodeResponse(payload []byte) (events.APIGatewayV2HTTPResponse, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err == nil {
		if _, ok := probe["statusCode"]; ok {
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(payload, &resp); err != nil {
				return resp, fmt.Errorf("decode response: %w", err)
			}
			if resp.StatusCode < 100 || resp.StatusCode > 599 {
				return resp, fmt.Errorf("decode response: status code %d out of range", resp.StatusCode)
			}
			if resp.IsBase64Encoded {
				if _, err := base64.StdEncoding.DecodeString(resp.Body); err != nil {
					return resp, fmt.Errorf("decode response body: %w", err)
				}
			}
			return resp, nil
		}
	}
	if !json.Valid(payload) {
		return events.APIGatewayV2HTTPResponse{}, errors.New("decode response: payload is not JSON")
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusOK,
		Headers:    map[string]string{"content-type": "application/json"},
		Body:       string(payload),
	}, nil
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) int {
	h := w.Header()
	h["Content-Type"] = nil // no sniffing: only what the function set
	names := make([]string, 0, len(resp.MultiValueHeaders))
	for k := range resp.MultiValueHeaders {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range resp.MultiValueHeaders[k] {
			h.Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		body, _ = base64.StdEncoding.DecodeString(resp.Body) // checked in DecodeResponse
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return resp.StatusCode
}

func writeMessage(w http.ResponseWriter, code int, msg string) int {
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
	return code
}

func clientAddr(r *http.Request) (ip, port string) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	port = "80"
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(addr.String()); err == nil {
			port = p
		}
	}
	return host, port
}

// newRequestID returns an id shaped like API Gateway's ("LV7fzho-PHcEJPw=").
func newRequestID() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	return base64.URLEncoding.EncodeToString(b[:])
}

func newTraceID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", now.Unix(), hex.EncodeToString(b[:]))
}
