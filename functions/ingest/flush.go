package ingest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// FlushRequest is the on-demand event ingest sends to the flush function.
type FlushRequest struct {
	Source string `json:"source"` // always FlushSource
	DB     string `json:"db,omitempty"`
	Table  string `json:"table,omitempty"`
	Force  bool   `json:"force"`
}

// FlushSource marks flush requests sent by ingest.
const FlushSource = "spillway.ingest"

// handleFlush serves POST /v1/flush[?db=&table=]: an asynchronous (Event)
// invocation of the flush function. The caller needs the explicit flush
// permission (apikeys.Key.CanFlush, IAMScope.Flush) for db; without db its
// scope must be every database.
func (h *Handler) handleFlush(ctx context.Context, r *request) (events.APIGatewayV2HTTPResponse, *apiError) {
	if aerr := h.authenticate(ctx, r); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	q, err := url.ParseQuery(r.ev.RawQueryString)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, reject(http.StatusBadRequest, reasonBadName, "invalid query string: %v", err)
	}
	db, table := q.Get("db"), q.Get("table")
	if db == "" && table != "" {
		return events.APIGatewayV2HTTPResponse{}, reject(http.StatusBadRequest, reasonBadName, "table given without db")
	}
	if db != "" {
		if aerr := validateNames(db, table); aerr != nil {
			return events.APIGatewayV2HTTPResponse{}, aerr
		}
	}
	if aerr := h.authorize(r, db, accessFlush); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	if h.cfg.FlushFunction == "" {
		return events.APIGatewayV2HTTPResponse{}, reject(http.StatusNotImplemented, reasonFlushUnavailable, "flush is not configured (no flush function)")
	}
	payload, _ := json.Marshal(FlushRequest{Source: FlushSource, DB: db, Table: table, Force: true})
	_, err = h.d.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(h.cfg.FlushFunction),
		InvocationType: lambdatypes.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, unavailable("flush invocation", err)
	}
	r.log.Info("flush requested", "db", db, "table", table, "function", h.cfg.FlushFunction)
	h.metrics.emit(r.route, "", map[string]float64{"FlushRequests": 1})
	out, _ := json.Marshal(map[string]any{"status": "accepted", "db": db, "table": table})
	return jsonResponse(http.StatusAccepted, string(out)), nil
}
