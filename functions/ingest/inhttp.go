package ingest

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// handleInHTTP serves Fluentd in_http style POST /<tag>, tag td.<db>.<table>.
// Fluentd answers 200 with an empty body; so does this route.
func (h *Handler) handleInHTTP(ctx context.Context, r *request, tag string) (events.APIGatewayV2HTTPResponse, *apiError) {
	if aerr := h.authenticate(ctx, r); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	db, table, err := names.ParseTag(tag)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, reject(http.StatusBadRequest, reasonBadName, "%v", err)
	}
	r.log = r.log.With("db", db, "table", table)
	if aerr := h.authorize(r, db, accessWrite); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	body, aerr := requestBody(r.ev.Body, r.ev.IsBase64Encoded, h.cfg.Limits)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	b, aerr := decodeInHTTP(r.header("Content-Type"), r.header("Content-Encoding"), r.ev.RawQueryString, body, h.d.Now(), h.cfg.Limits)
	if aerr != nil {
		// A compressed body that came as text was mangled on the way: any
		// failure to decode it (not gzip, a bogus snappy length read as a
		// ratio bomb, garbage JSON) is that, not the client's data.
		if !r.ev.IsBase64Encoded && aerr.Reason != reasonEncoding && encoded(r.header("Content-Encoding")) {
			aerr = textCompressed(r.header("Content-Type"), r.header("Content-Encoding"))
		}
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	// Fluentd keeps every post: the request, not its content, is the
	// identity, so five identical posts in one second are five imports.
	uid := requestUniqueID(ctx, r, tag)
	r.log = r.log.With("unique_id", uid)
	if aerr := h.write(ctx, r, db, table, uid, b, nil, "", len(body)); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}}, nil
}

// decodeInHTTP turns an in_http request into validated TD events with
// tdrecord.DecodeInHTTP (formats, time rule and limits are documented
// there); an invalid time is a 400, as Fluentd answers.
func decodeInHTTP(contentType, contentEncoding, rawQuery string, body []byte, now time.Time, lim Limits) (*batch, *apiError) {
	raw, _, err := tdrecord.DecodeInHTTP(tdrecord.InHTTPRequest{
		ContentType: contentType, ContentEncoding: contentEncoding, RawQuery: rawQuery, Body: body, Now: now.Unix(),
	}, lim.Limits)
	if err != nil {
		return nil, recordError(err, http.StatusBadRequest)
	}
	return decodeMsgpackStream(raw, lim)
}

// textCompressed is the answer to a compressed body that API Gateway
// passed as text (isBase64Encoded false): an HTTP API hands bodies with a
// text Content-Type (text/*, application/json, application/xml,
// application/javascript) to the function as UTF-8 text, so compressed
// bytes arrive corrupted and cannot be recovered (see the README,
// "Shippers"). The REST API front (binaryMediaTypes */*) delivers every
// body intact, so the fix is its URL; or a binary Content-Type, or no
// compression.
func textCompressed(contentType, contentEncoding string) *apiError {
	return reject(http.StatusUnsupportedMediaType, reasonEncoding,
		"a %s body with Content-Type %q reaches ingest as text through the HTTP API and arrives corrupted: "+
			"send it to the REST API URL (Terraform output rest_api_url), which delivers every body intact, "+
			"or use a binary Content-Type (application/x-ndjson or application/msgpack, e.g. Fluent Bit Format json_lines or msgpack), or send it uncompressed",
		clipHeader(contentEncoding), clipHeader(contentType))
}

// encoded reports whether a Content-Encoding names a compression.
func encoded(contentEncoding string) bool {
	ce := strings.ToLower(strings.TrimSpace(contentEncoding))
	return ce != "" && ce != "identity"
}

// clipHeader shortens a header value for a message.
func clipHeader(v string) string {
	if len(v) > 64 {
		return v[:64] + "..."
	}
	return v
}
