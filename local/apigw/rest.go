package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Kinds of API a Gateway serves (Config.Kind).
const (
	// KindHTTP is an HTTP API: payload format 2.0, "$default" stage at the
	// root, bodies by Content-Type (see IsTextContentType).
	KindHTTP = "HTTP"
	// KindREST is a REST API with Lambda proxy integrations: payload format
	// 1.0 (events.APIGatewayProxyRequest), the stage name as the first path
	// segment, bodies whose Content-Type matches Config.BinaryMediaTypes
	// base64-encoded (with "*/*", every body).
	KindREST = "REST"
)

// REST API answers. AWS documents the gateway response types and their
// status codes (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html:
// MISSING_AUTHENTICATION_TOKEN 403, REQUEST_TOO_LARGE 413,
// INTEGRATION_TIMEOUT 504, INTEGRATION_FAILURE 504 and 502 for a Lambda
// error or malformed proxy response); the bodies are the default
// {"message":$context.error.messageString} with the strings API Gateway
// sends. A request body over 10 MB is refused before the integration with a
// plain-text body, and an event over Lambda's 6 MB invoke limit with
// {"message": "Request Too Long"}, as recorded from a real REST API in
// https://github.com/koki-develop/lgtm-generator/issues/10.
const (
	restMsgForbidden  = "Forbidden"                    // no such stage
	restMsgNoRoute    = "Missing Authentication Token" // no resource or method
	restMsgTimeout    = "Endpoint request timed out"
	restMsgInternal   = "Internal server error"
	restMsgTooLong    = "Request Too Long"
	restTooLargeText  = "HTTP content length exceeded %d bytes."
	restTimeout       = 29 * time.Second
	restTextMediaType = "text; charset=utf-8"
)

// restPath splits the request path of a REST API into the stage and the
// resource path; ok is false when the first segment is not cfg.Stage.
func (g *Gateway) restPath(escaped string) (string, bool) {
	rest, ok := strings.CutPrefix(escaped, "/"+g.cfg.Stage)
	if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
		return "", false
	}
	if rest == "" {
		rest = "/"
	}
	return rest, true
}

// isBinary reports whether a REST API with these binaryMediaTypes treats a
// request of this Content-Type as binary: an exact type, "type/*" or
// "*/*" entry matches (parameters ignored).
func isBinary(binaryMediaTypes []string, contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = ""
	}
	typ, _, _ := strings.Cut(mt, "/")
	for _, b := range binaryMediaTypes {
		if b == "*/*" || (mt != "" && (strings.EqualFold(b, mt) || strings.EqualFold(b, typ+"/*"))) {
			return true
		}
	}
	return false
}

// BuildRESTEvent builds the REST API Lambda proxy event (payload format
// 1.0) for r with its already read body: resourcePath is the matched
// resource ("/{proxy+}" or "/"), path the request path without the stage,
// params the resource's path parameters.
func (g *Gateway) BuildRESTEvent(r *http.Request, body []byte, resourcePath, method, reqPath string, params map[string]string, now time.Time, reqID string) events.APIGatewayProxyRequest {
	sourceIP, port := clientAddr(r)
	mvh := map[string][]string{}
	for name, vals := range r.Header {
		mvh[name] = append([]string(nil), vals...)
	}
	mvh["Host"] = []string{r.Host}
	mvh["X-Forwarded-For"] = append(mvh["X-Forwarded-For"], sourceIP)
	mvh["X-Forwarded-Port"] = []string{port}
	mvh["X-Forwarded-Proto"] = []string{"http"}
	if r.TLS != nil {
		mvh["X-Forwarded-Proto"] = []string{"https"}
	}
	if len(mvh["X-Amzn-Trace-Id"]) == 0 {
		mvh["X-Amzn-Trace-Id"] = []string{newTraceID(now)}
	}
	headers := make(map[string]string, len(mvh))
	for k, vs := range mvh {
		if k == "X-Forwarded-For" {
			headers[k] = strings.Join(vs, ", ")
			continue
		}
		headers[k] = vs[len(vs)-1]
	}
	var query map[string]string
	var mvq map[string][]string
	if q := r.URL.Query(); len(q) > 0 {
		query, mvq = make(map[string]string, len(q)), make(map[string][]string, len(q))
		for k, vs := range q {
			query[k], mvq[k] = vs[len(vs)-1], vs
		}
	}
	domain := r.Host
	if h, _, err := net.SplitHostPort(domain); err == nil {
		domain = h
	}
	ev := events.APIGatewayProxyRequest{
		Resource:                        resourcePath,
		Path:                            reqPath,
		HTTPMethod:                      method,
		Headers:                         headers,
		MultiValueHeaders:               mvh,
		QueryStringParameters:           query,
		MultiValueQueryStringParameters: mvq,
		PathParameters:                  params,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID:         g.cfg.AccountID,
			ResourceID:        "local",
			Stage:             g.cfg.Stage,
			DomainName:        domain,
			DomainPrefix:      strings.SplitN(domain, ".", 2)[0],
			RequestID:         reqID,
			ExtendedRequestID: reqID,
			Protocol:          r.Proto,
			Identity:          events.APIGatewayRequestIdentity{SourceIP: sourceIP, UserAgent: r.UserAgent()},
			ResourcePath:      resourcePath,
			Path:              path.Join("/", g.cfg.Stage, reqPath),
			HTTPMethod:        method,
			RequestTime:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			RequestTimeEpoch:  now.UnixMilli(),
			APIID:             g.cfg.APIID,
		},
	}
	if len(body) > 0 {
		if isBinary(g.cfg.BinaryMediaTypes, r.Header.Get("Content-Type")) {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		} else {
			ev.Body = TextBody(body)
		}
	}
	return ev
}

// MarshalRESTEvent encodes ev as API Gateway sends it (no HTML escaping).
func MarshalRESTEvent(ev events.APIGatewayProxyRequest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encode api gateway event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// DecodeRESTResponse interprets a function's response payload as a REST API
// Lambda proxy integration does: a JSON object with an integer statusCode,
// optional headers, multiValueHeaders, body (a string) and
// isBase64Encoded. Anything else is a malformed proxy response (502).
func DecodeRESTResponse(payload []byte) (events.APIGatewayV2HTTPResponse, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("malformed Lambda proxy response: %w", err)
	}
	if _, ok := probe["statusCode"]; !ok {
		return events.APIGatewayV2HTTPResponse{}, errors.New("malformed Lambda proxy response: no statusCode")
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("malformed Lambda proxy response: %w", err)
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("malformed Lambda proxy response: status code %d", resp.StatusCode)
	}
	if resp.IsBase64Encoded {
		if _, err := base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("malformed Lambda proxy response body: %w", err)
		}
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: resp.StatusCode, Headers: resp.Headers, MultiValueHeaders: resp.MultiValueHeaders,
		Body: resp.Body, IsBase64Encoded: resp.IsBase64Encoded,
	}, nil
}

// restTooLarge answers a REST API request whose body is over the limit
// (read and discarded first, as tooLarge does).
func restTooLarge(w http.ResponseWriter, r *http.Request, limit int64) int {
	drain(w, r)
	msg := fmt.Sprintf(restTooLargeText, limit)
	w.Header().Set("Content-Type", restTextMediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	_, _ = w.Write([]byte(msg))
	return http.StatusRequestEntityTooLarge
}
