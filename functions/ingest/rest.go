package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// ErrUnknownEvent is returned by Invoke for a payload that is neither an API
// Gateway HTTP API event (payload format 2.0) nor a REST API Lambda proxy
// event (payload format 1.0); Lambda reports it as a function error.
var ErrUnknownEvent = errors.New("not an API Gateway proxy event (payload format 1.0 or 2.0)")

// Invoke serves one Lambda invocation from either API Gateway front: an HTTP
// API event (payload format 2.0, "version":"2.0") goes to Handle, a REST API
// Lambda proxy event (payload format 1.0, with httpMethod) to HandleREST,
// and each gets its own response shape. It implements lambda.Handler, so
// one function serves both fronts with the same routes, limits and errors.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var probe struct {
		Version    string `json:"version"`
		HTTPMethod string `json:"httpMethod"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("decode invocation payload: %w", err)
	}
	var resp any
	switch {
	case probe.Version == "2.0":
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("decode payload format 2.0 event: %w", err)
		}
		resp, _ = h.Handle(ctx, ev)
	case probe.HTTPMethod != "":
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("decode payload format 1.0 event: %w", err)
		}
		resp, _ = h.HandleREST(ctx, ev)
	default:
		return nil, ErrUnknownEvent
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return out, nil
}

// HandleREST serves one API Gateway REST API Lambda proxy request (payload
// format 1.0). The REST front exists for its binary media types: with
// binaryMediaTypes ["*/*"] every body arrives base64-encoded and intact
// (isBase64Encoded true), so a compressed body with a text Content-Type
// (Fluent Bit Format json + Compress gzip) is decoded like any other. The
// event is mapped onto the payload 2.0 shape Handle serves, so routes,
// limits, errors and identity are the HTTP API's. Like Handle, it answers
// every failure itself and returns a nil error.
func (h *Handler) HandleREST(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	resp, err := h.Handle(ctx, v2FromREST(ev))
	return events.APIGatewayProxyResponse{
		StatusCode:        resp.StatusCode,
		Headers:           resp.Headers,
		MultiValueHeaders: resp.MultiValueHeaders,
		Body:              resp.Body,
		IsBase64Encoded:   resp.IsBase64Encoded,
	}, err
}

// v2FromREST maps a payload format 1.0 event onto the 2.0 fields Handle
// reads:
//   - path: a REST event's path is the resource path without the stage
//     (requestContext.path carries "/<stage>/..."), so the event's stage is
//     left out: Handle must not strip a first segment that merely equals
//     the stage name (a stage "v1" and POST /v1/flush). The path is
//     re-escaped segment by segment for Handle's unescaping;
//   - query: REST passes decoded values (multiValueQueryStringParameters),
//     no raw query string; it is re-encoded (keys sorted, repeated values in
//     order), which is what tdrecord's query parsing reads;
//   - headers: names lower-cased, repeated values joined with commas, as
//     an HTTP API does;
//   - caller: requestContext.identity (sourceIp; and, on AWS_IAM methods,
//     the caller API Gateway verified) becomes requestContext.http.sourceIp
//     and authorizer.iam.
func v2FromREST(ev events.APIGatewayProxyRequest) events.APIGatewayV2HTTPRequest {
	headers := make(map[string]string, len(ev.Headers)+len(ev.MultiValueHeaders))
	for k, v := range ev.Headers {
		headers[strings.ToLower(k)] = v
	}
	for k, vs := range ev.MultiValueHeaders {
		if len(vs) > 0 {
			headers[strings.ToLower(k)] = strings.Join(vs, ",")
		}
	}
	q := url.Values{}
	for k, v := range ev.QueryStringParameters {
		q.Set(k, v)
	}
	for k, vs := range ev.MultiValueQueryStringParameters {
		if len(vs) > 0 {
			q[k] = vs
		}
	}
	var query map[string]string
	if len(q) > 0 {
		query = make(map[string]string, len(q))
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	rc := ev.RequestContext
	out := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              ev.HTTPMethod + " " + ev.Resource,
		RawPath:               escapePath(ev.Path),
		RawQueryString:        q.Encode(),
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        ev.PathParameters,
		Body:                  ev.Body,
		IsBase64Encoded:       ev.IsBase64Encoded,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   ev.HTTPMethod + " " + ev.Resource,
			AccountID:  rc.AccountID,
			RequestID:  rc.RequestID,
			APIID:      rc.APIID,
			DomainName: rc.DomainName,
			TimeEpoch:  rc.RequestTimeEpoch,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    ev.HTTPMethod,
				Path:      ev.Path,
				Protocol:  rc.Protocol,
				SourceIP:  rc.Identity.SourceIP,
				UserAgent: rc.Identity.UserAgent,
			},
		},
	}
	if id := rc.Identity; id.UserArn+id.Caller+id.AccessKey != "" {
		out.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
				AccessKey: id.AccessKey, AccountID: id.AccountID, CallerID: id.Caller, UserARN: id.UserArn, UserID: id.User,
			},
		}
	}
	return out
}

// escapePath escapes each segment of a decoded path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
