package ingest

import (
	"context"
	"net/http"
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
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	// The id covers the events after time resolution: a retry within the same
	// second dedupes downstream, while identical posts at different times
	// (two identical "login" events) stay distinct events.
	uid := derivedUniqueID([]byte(tag), b.raw)
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
