package flush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// Sink is one TD import endpoint.
type Sink struct {
	Endpoint string   // base URL; names the sink in manifests and failed/ keys
	Client   Importer // client for that endpoint
}

// ImportID is the TD unique_id of sealed object n of a manifest.
func ImportID(manifestID string, n int) string { return manifestID + "-" + strconv.Itoa(n) }

// FailedRecord is the JSON stored under failed/ for a refused import.
type FailedRecord struct {
	Endpoint   string `json:"endpoint"`
	DB         string `json:"db"`
	Table      string `json:"table"`
	UniqueID   string `json:"unique_id"`
	Object     string `json:"object"`
	StatusCode int    `json:"status_code"`
	Response   string `json:"response"`
}

func (h *Handler) importAll(ctx context.Context, m *Manifest, bodies map[string][]byte, res *Result) error {
	done := map[string]bool{}
	for _, s := range m.Imports {
		done[s] = true
	}
	for _, sink := range h.sinks {
		for n, k := range m.Sealed {
			mark := sink.Endpoint + " " + strconv.Itoa(n)
			if done[mark] {
				continue
			}
			body, ok := bodies[k]
			if !ok {
				var err error
				if body, err = h.get(ctx, k); err != nil {
					return err
				}
			}
			uid := ImportID(m.ID, n)
			_, err := sink.Client.ImportWithID(ctx, m.DB, m.Table, uid, body)
			if tdimport.IsNotFound(err) {
				if err = sink.Client.CreateDatabase(ctx, m.DB); err == nil {
					if err = sink.Client.CreateTable(ctx, m.DB, m.Table); err == nil {
						_, err = sink.Client.ImportWithID(ctx, m.DB, m.Table, uid, body)
					}
				}
			}
			if err != nil && tdimport.IsPermanent(err) {
				if perr := h.park(ctx, sink.Endpoint, m, uid, k, err); perr != nil {
					return perr
				}
				res.Parked++
				err = nil
			}
			if err != nil {
				return fmt.Errorf("import %s into %s.%s at %s: %w", uid, m.DB, m.Table, sink.Endpoint, err)
			}
			_, err = h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(h.cfg.ManifestTable),
				Key:                       map[string]types.AttributeValue{layout.AttrPK: str(m.PK), layout.AttrSK: str(m.ID)},
				UpdateExpression:          aws.String("ADD imports :i"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":i": &types.AttributeValueMemberSS{Value: []string{mark}}},
			})
			if err != nil {
				return fmt.Errorf("record import %s: %w", mark, err)
			}
			done[mark] = true
			if err := h.point(ctx, "after-td-import"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *Handler) park(ctx context.Context, endpoint string, m *Manifest, uid, obj string, cause error) error {
	rec := FailedRecord{Endpoint: endpoint, DB: m.DB, Table: m.Table, UniqueID: uid, Object: obj, Response: cause.Error()}
	var se *tdimport.StatusError
	if errors.As(cause, &se) {
		rec.StatusCode, rec.Response = se.StatusCode, se.Body
	}
	doc, _ := json.Marshal(rec)
	key := layout.FailedKey(endpoint, m.DB, m.Table, uid)
	h.log.WarnContext(ctx, "import refused, parked", "db", m.DB, "table", m.Table, "unique_id", uid, "endpoint", endpoint, "key", key, "err", cause)
	return h.put(ctx, key, doc)
}
