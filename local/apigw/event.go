package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

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
