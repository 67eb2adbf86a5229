// Package apigw is a local Amazon API Gateway front, an HTTP API or (Kind
// KindREST) a REST API with Lambda proxy integrations: an http.Handler that
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
//
// A REST API (Config.Kind KindREST; see rest.go for the sources) differs:
//   - the first path segment is the stage (another answers 403
//     {"message":"Forbidden"}); resources are matched as route keys
//     ("ANY /{proxy+}", "ANY /"), no match answers 403 {"message":"Missing
//     Authentication Token"};
//   - the event is payload format 1.0 (events.APIGatewayProxyRequest: path
//     without the stage, headers and multiValueHeaders, decoded query
//     values); a body whose Content-Type matches Config.BinaryMediaTypes
//     ("*/*": every body) is base64 with isBase64Encoded true, intact
//     whatever its Content-Type and Content-Encoding;
//   - a body over 10 MB answers 413 "HTTP content length exceeded 10485760
//     bytes." (text); an event over Lambda's 6 MB invoke payload 413
//     {"message":"Request Too Long"}; an integration slower than 29 s 504
//     {"message":"Endpoint request timed out"}; a function error or a
//     malformed response 502 {"message":"Internal server error"}.
package apigw

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/spillwayhq/spillway/local/lambdarun"
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
	// Kind is KindHTTP (default) or KindREST.
	Kind string
	// Stage is requestContext.stage (default "$default"). A REST API needs
	// a named stage: it is the first segment of every request path.
	Stage string
	// BinaryMediaTypes are a REST API's binaryMediaTypes: a request whose
	// Content-Type matches one ("*/*" matches all) reaches the function
	// base64-encoded and intact. HTTP APIs have none.
	BinaryMediaTypes []string
	// MaxBodyBytes is the request body limit (default 10 MB).
	MaxBodyBytes int64
	// IntegrationTimeout bounds each invocation (default 30s; 29s for a
	// REST API).
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
	if cfg.Kind == "" {
		cfg.Kind = KindHTTP
	}
	if cfg.Stage == "" && cfg.Kind == KindHTTP {
		cfg.Stage = "$default"
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 10 * 1024 * 1024
	}
	if cfg.IntegrationTimeout == 0 {
		cfg.IntegrationTimeout = 30 * time.Second
		if cfg.Kind == KindREST {
			cfg.IntegrationTimeout = restTimeout
		}
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
	switch cfg.Kind {
	case KindHTTP:
		if len(cfg.BinaryMediaTypes) > 0 {
			errs = append(errs, errors.New("binary_media_types: an HTTP API has none (a REST API setting)"))
		}
	case KindREST:
		if cfg.Stage == "" || cfg.Stage == "$default" || strings.ContainsAny(cfg.Stage, "/{}") {
			errs = append(errs, fmt.Errorf("stage: a REST API needs a named stage, not %q", cfg.Stage))
		}
	default:
		errs = append(errs, fmt.Errorf("kind: %q is not %s or %s", cfg.Kind, KindHTTP, KindREST))
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
	rest := g.cfg.Kind == KindREST
	escaped := r.URL.EscapedPath()
	if rest {
		p, ok := g.restPath(escaped)
		if !ok {
			return writeMessage(w, http.StatusForbidden, restMsgForbidden), ""
		}
		escaped = p
	}
	rt, params := g.match(r.Method, escaped)
	if rt == nil {
		if rest {
			return writeMessage(w, http.StatusForbidden, restMsgNoRoute), ""
		}
		return writeMessage(w, http.StatusNotFound, msgNotFound), ""
	}
	body, status := g.readBody(w, r)
	if body == nil {
		return status, rt.key
	}
	payload, err := g.event(r, *body, rt, escaped, params, now, reqID)
	if err != nil {
		return writeMessage(w, http.StatusInternalServerError, msgInternal), rt.key
	}
	ctx, cancel := context.WithTimeout(r.Context(), rt.timeout)
	defer cancel()
	out, err := rt.invoke(ctx, payload)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded && r.Context().Err() == nil {
			g.cfg.Logger.Warn("integration timed out", "request_id", reqID, "route", rt.key, "timeout", rt.timeout.String())
			if rest {
				return writeMessage(w, http.StatusGatewayTimeout, restMsgTimeout), rt.key
			}
			return writeMessage(w, http.StatusServiceUnavailable, msgUnavailable), rt.key
		}
		g.cfg.Logger.Warn("integration failed", "request_id", reqID, "route", rt.key, "error", err.Error())
		switch {
		case rest && errors.Is(err, lambdarun.ErrPayloadTooLarge):
			return writeMessage(w, http.StatusRequestEntityTooLarge, restMsgTooLong), rt.key
		case rest:
			return writeMessage(w, http.StatusBadGateway, restMsgInternal), rt.key
		}
		return writeMessage(w, http.StatusInternalServerError, msgInternal), rt.key
	}
	decode := DecodeResponse
	if rest {
		decode = DecodeRESTResponse
	}
	resp, err := decode(out)
	if err != nil {
		g.cfg.Logger.Warn("malformed integration response", "request_id", reqID, "route", rt.key, "error", err.Error())
		if rest {
			return writeMessage(w, http.StatusBadGateway, restMsgInternal), rt.key
		}
		return writeMessage(w, http.StatusInternalServerError, msgInternal), rt.key
	}
	return writeResponse(w, resp), rt.key
}

// readBody reads the request body within MaxBodyBytes; over it, it answers
// 413 itself and returns nil and the status.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) (*[]byte, int) {
	over := func() (*[]byte, int) {
		if g.cfg.Kind == KindREST {
			return nil, restTooLarge(w, r, g.cfg.MaxBodyBytes)
		}
		return nil, tooLarge(w, r)
	}
	if r.ContentLength > g.cfg.MaxBodyBytes {
		return over()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.cfg.MaxBodyBytes+1))
	if err != nil {
		return nil, writeMessage(w, http.StatusBadRequest, "Bad Request")
	}
	if int64(len(body)) > g.cfg.MaxBodyBytes {
		return over()
	}
	return &body, 0
}

// event encodes the integration's event for the API's kind.
func (g *Gateway) event(r *http.Request, body []byte, rt *route, escaped string, params map[string]string, now time.Time, reqID string) ([]byte, error) {
	if g.cfg.Kind != KindREST {
		return MarshalEvent(g.BuildEvent(r, body, rt.key, params, now, reqID))
	}
	reqPath, err := url.PathUnescape(escaped)
	if err != nil {
		reqPath = escaped
	}
	_, resource, _ := strings.Cut(rt.key, " ")
	return MarshalRESTEvent(g.BuildRESTEvent(r, body, resource, r.Method, reqPath, params, now, reqID))
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
	drain(w, r)
	return writeMessage(w, http.StatusRequestEntityTooLarge, msgTooLarge)
}

// drain reads and discards the rest of a refused body (up to maxDrain) and
// closes the connection after the answer.
func drain(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
	w.Header().Set("Connection", "close")
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
