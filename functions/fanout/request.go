package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/spillwayhq/spillway/shared/layout"
)

// LambdaAPI is the part of the Lambda client fanout uses: an asynchronous
// (Event) invocation of the flush function.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ LambdaAPI = (*lambda.Client)(nil)

// FlushSource marks flush requests sent by fanout.
const FlushSource = "spillway.fanout"

// FlushRequest is the event fanout sends to the flush function for one
// table that committed new staged objects.
type FlushRequest struct {
	Source string `json:"source"` // always FlushSource
	DB     string `json:"db"`
	Table  string `json:"table"`
}

// WithFlushInvoker makes the handler ask the flush function for a flush of
// every table that committed new staged objects (Config.FlushFunction).
func WithFlushInvoker(l LambdaAPI) Option { return func(h *Handler) { h.lambda = l } }

// requestFlushes asks for a flush of each table in tables when it is due,
// at most one request pending per table. A table is due when its oldest
// commit not yet taken by a flush is SealAfter old (steady traffic: about
// one flush per SealAfter), or when no flush took it in the last SealAfter
// (the first commit after a quiet spell is sealed at once). The table's
// flush-request item records first_at, the first commit since a flush took
// the table (flush removes it, and requested_at, and sets flushed_at, when
// it starts on the table), and requested_at, the pending request: a
// conditional update sets
// requested_at only when none is pending or the pending one is older than
// FlushRequestStale (its invocation was lost); only then is the flush
// function invoked asynchronously. A failure here loses nothing: the
// objects are committed, and the next request or the schedule seals them.
func (h *Handler) requestFlushes(ctx context.Context, tables map[tableKey]bool, now time.Time) {
	if h.lambda == nil || h.cfg.FlushFunction == "" {
		return
	}
	for tk := range tables {
		if err := h.requestFlush(ctx, tk, now); err != nil {
			h.log.WarnContext(ctx, "flush request", "db", tk.db, "table", tk.table, "err", err)
		}
	}
}

// requestItem is a table's flush-request item.
type requestItem struct {
	FirstAt     int64 `dynamodbav:"first_at"`
	RequestedAt int64 `dynamodbav:"requested_at"`
	FlushedAt   int64 `dynamodbav:"flushed_at"`
}

func (h *Handler) requestFlush(ctx context.Context, tk tableKey, now time.Time) error {
	key := map[string]types.AttributeValue{layout.AttrPK: str(layout.RequestPK(tk.db, tk.table)), layout.AttrSK: str(layout.FlushRequestSK)}
	stale := now.Add(-h.cfg.FlushRequestStale).Unix()
	out, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.cfg.ManifestTable),
		Key:                       key,
		UpdateExpression:          aws.String("SET first_at = if_not_exists(first_at, :now)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return err
	}
	var it requestItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return fmt.Errorf("decode flush request item: %w", err)
	}
	after := int64(h.cfg.SealAfter / time.Second)
	due := now.Unix()-it.FirstAt >= after || now.Unix()-it.FlushedAt >= after
	if it.RequestedAt >= stale || !due {
		return nil // pending, or not due yet: a later commit or the schedule's sweep asks
	}
	_, err = h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.cfg.ManifestTable),
		Key:                       key,
		UpdateExpression:          aws.String("SET requested_at = :now"),
		ConditionExpression:       aws.String("attribute_exists(first_at) AND (attribute_not_exists(requested_at) OR requested_at < :stale)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix()), ":stale": num(stale)},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // another batch asked first, or a flush just took the table
	}
	if err != nil {
		return err
	}
	payload, _ := json.Marshal(FlushRequest{Source: FlushSource, DB: tk.db, Table: tk.table})
	_, err = h.lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(h.cfg.FlushFunction),
		InvocationType: lambdatypes.InvocationTypeEvent,
		Payload:        payload,
	})
	return err
}
