package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/catalog"
	"github.com/spillwayhq/spillway/shared/layout"
)

// tdTimeFormat is how TD's API writes times.
const tdTimeFormat = "2006-01-02 15:04:05 MST"

func catalogKey(db, table string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		layout.AttrCatalogDB:    &types.AttributeValueMemberS{Value: db},
		layout.AttrCatalogTable: &types.AttributeValueMemberS{Value: table},
	}
}

// getCatalog reads one catalog item (nil when absent).
func (h *Handler) getCatalog(ctx context.Context, db, table string) (map[string]types.AttributeValue, error) {
	out, err := h.d.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(h.cfg.CatalogTable), Key: catalogKey(db, table)})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// createCatalog creates a database or table item unless it exists. It
// reports whether it created it.
func (h *Handler) createCatalog(ctx context.Context, db, table string) (bool, error) {
	now := strconv.FormatInt(h.d.Now().Unix(), 10)
	item := catalogKey(db, table)
	item["created_at"] = &types.AttributeValueMemberN{Value: now}
	item["updated_at"] = &types.AttributeValueMemberN{Value: now}
	_, err := h.d.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(h.cfg.CatalogTable),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(" + layout.AttrCatalogDB + ")"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	return err == nil, err
}

// ensureTable checks that db and table exist in the catalog, creating them
// when AutoCreate is on; otherwise 404 like TD.
func (h *Handler) ensureTable(ctx context.Context, db, table string) *apiError {
	ck := "tbl\x00" + db + "\x00" + table
	if _, ok := h.cache.get(ck); ok {
		return nil
	}
	it, err := h.getCatalog(ctx, db, table)
	if err != nil {
		return unavailable("catalog lookup", err)
	}
	if it == nil {
		dbItem, err := h.getCatalog(ctx, db, layout.DatabaseItem)
		if err != nil {
			return unavailable("catalog lookup", err)
		}
		switch {
		case dbItem == nil && !h.cfg.AutoCreate:
			return reject(http.StatusNotFound, reasonUnknownDB, "database %q does not exist", db)
		case !h.cfg.AutoCreate:
			return reject(http.StatusNotFound, reasonUnknownTable, "table %q does not exist in database %q", table, db)
		}
		if dbItem == nil {
			if _, err := h.createCatalog(ctx, db, layout.DatabaseItem); err != nil {
				return unavailable("catalog lookup", err)
			}
		}
		if _, err := h.createCatalog(ctx, db, table); err != nil {
			return unavailable("catalog lookup", err)
		}
	}
	h.cache.put(ck, true)
	return nil
}

func (h *Handler) handleCreate(ctx context.Context, r *request, db, table string) (events.APIGatewayV2HTTPResponse, *apiError) {
	if aerr := h.prologue(ctx, r, db, table, accessWrite); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	key := table
	if table == "" {
		key = layout.DatabaseItem
	} else {
		dbItem, err := h.getCatalog(ctx, db, layout.DatabaseItem)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, unavailable("catalog lookup", err)
		}
		if dbItem == nil {
			return events.APIGatewayV2HTTPResponse{}, reject(http.StatusNotFound, reasonUnknownDB, "database %q does not exist", db)
		}
	}
	created, err := h.createCatalog(ctx, db, key)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, unavailable("catalog write", err)
	}
	if !created {
		if table == "" {
			return events.APIGatewayV2HTTPResponse{}, reject(http.StatusConflict, reasonExists, "database %q already exists", db)
		}
		return events.APIGatewayV2HTTPResponse{}, reject(http.StatusConflict, reasonExists, "table %q already exists in database %q", table, db)
	}
	r.log.Info("created", "db", db, "table", table)
	resp := map[string]string{"database": db}
	if table != "" {
		resp["table"], resp["type"] = table, "log"
	}
	out, _ := json.Marshal(resp)
	return jsonResponse(http.StatusOK, string(out)), nil
}

// tableJSON is one table in TD's table list/show shape (what td-client-go
// v0.3.2 validates).
type tableJSON struct {
	ID                   int    `json:"id"`
	UserID               int    `json:"user_id"`
	Description          any    `json:"description"`
	Name                 string `json:"name"`
	Type                 string `json:"type"`
	Count                int64  `json:"count"`
	CreatedAt            string `json:"created_at"`
	UpdatedAt            string `json:"updated_at"`
	CounterUpdatedAt     string `json:"counter_updated_at"`
	LastLogTimestamp     string `json:"last_log_timestamp"`
	DeleteProtected      bool   `json:"delete_protected"`
	EstimatedStorageSize int64  `json:"estimated_storage_size"`
	Schema               string `json:"schema"`
	ExpireDays           int    `json:"expire_days"`
	PrimaryKey           string `json:"primary_key"`
	PrimaryKeyType       string `json:"primary_key_type"`
	IncludeV             bool   `json:"include_v"`
}

type databaseJSON struct {
	ID              string `json:"id"`
	UserID          int    `json:"user_id"`
	Description     any    `json:"description"`
	Name            string `json:"name"`
	Organization    string `json:"organization"`
	Count           int64  `json:"count"`
	CreatedAt       string `json:"created_at"`
	UpdatedAt       string `json:"updated_at"`
	Permission      string `json:"permission"`
	DeleteProtected bool   `json:"delete_protected"`
}

func tdTime(sec int64) string {
	if sec <= 0 {
		return ""
	}
	return time.Unix(sec, 0).UTC().Format(tdTimeFormat)
}

func stableID(s string) int {
	f := fnv.New32a()
	_, _ = f.Write([]byte(s))
	return int(f.Sum32() & 0x7fffffff)
}

func toTable(e catalog.Entry) tableJSON {
	created, updated := e.CreatedAt, e.UpdatedAt
	if updated == 0 {
		updated = created
	}
	if created == 0 {
		created = updated
	}
	cols := make([][2]string, 0, len(e.Schema))
	for k, v := range e.Schema {
		cols = append(cols, [2]string{k, v})
	}
	sort.Slice(cols, func(i, j int) bool { return cols[i][0] < cols[j][0] })
	schema, _ := json.Marshal(cols)
	createdS := tdTime(created)
	if createdS == "" {
		createdS = time.Unix(0, 0).UTC().Format(tdTimeFormat)
	}
	updatedS := tdTime(updated)
	if updatedS == "" {
		updatedS = createdS
	}
	return tableJSON{
		ID: stableID(e.DB + "." + e.Table), Name: e.Table, Type: "log",
		Count:     e.Count,
		CreatedAt: createdS, UpdatedAt: updatedS,
		CounterUpdatedAt:     tdTime(e.LastImportAt),
		LastLogTimestamp:     tdTime(e.MaxTime),
		EstimatedStorageSize: e.Bytes,
		Schema:               string(schema),
	}
}

// prologue authenticates the caller, validates db (and table unless
// empty) and checks the key's access to db.
func (h *Handler) prologue(ctx context.Context, r *request, db, table string, a access) *apiError {
	if aerr := h.authenticate(ctx, r); aerr != nil {
		return aerr
	}
	if aerr := validateNames(db, table); aerr != nil {
		return aerr
	}
	return h.authorize(r, db, a)
}

func (h *Handler) handleTableList(ctx context.Context, r *request, db string) (events.APIGatewayV2HTTPResponse, *apiError) {
	if aerr := h.prologue(ctx, r, db, "", accessRead); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	entries, err := catalog.ReadDatabase(ctx, h.d.DynamoDB, h.cfg.CatalogTable, db, false)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, unavailable("catalog query", err)
	}
	tables := []tableJSON{}
	found := false
	for _, e := range entries {
		switch {
		case e.Table == "":
			found = found || e.Exists
		case e.Exists:
			tables = append(tables, toTable(e))
		}
	}
	if !found && len(tables) == 0 {
		return events.APIGatewayV2HTTPResponse{}, reject(http.StatusNotFound, reasonUnknownDB, "database %q does not exist", db)
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i].Name < tables[j].Name })
	out, _ := json.Marshal(map[string]any{"database": db, "tables": tables})
	return jsonResponse(http.StatusOK, string(out)), nil
}

func (h *Handler) handleTableShow(ctx context.Context, r *request, db, table string) (events.APIGatewayV2HTTPResponse, *apiError) {
	if aerr := h.prologue(ctx, r, db, table, accessRead); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	e, ok, err := catalog.ReadTable(ctx, h.d.DynamoDB, h.cfg.CatalogTable, db, table, false)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, unavailable("catalog lookup", err)
	}
	if !ok {
		return events.APIGatewayV2HTTPResponse{}, reject(http.StatusNotFound, reasonUnknownTable, "table %q does not exist in database %q", table, db)
	}
	out, _ := json.Marshal(toTable(e))
	return jsonResponse(http.StatusOK, string(out)), nil
}

func (h *Handler) handleDatabaseList(ctx context.Context, r *request) (events.APIGatewayV2HTTPResponse, *apiError) {
	if aerr := h.authenticate(ctx, r); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	if r.key != nil && !r.key.CanRead {
		return events.APIGatewayV2HTTPResponse{}, reject(http.StatusForbidden, reasonForbidden, "API key %q may not read", r.key.Name)
	}
	var items []map[string]types.AttributeValue
	var start map[string]types.AttributeValue
	for {
		out, err := h.d.DynamoDB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(h.cfg.CatalogTable), ExclusiveStartKey: start})
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, unavailable("catalog scan", err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	// Fold sorts a database's own entry before its tables.
	list := []databaseJSON{}
	var cur *databaseJSON
	var upd int64
	flush := func() {
		if cur != nil {
			cur.UpdatedAt = time.Unix(upd, 0).UTC().Format(tdTimeFormat)
			list = append(list, *cur)
		}
		cur = nil
	}
	perm := "query_only"
	if r.key == nil || r.key.CanWrite {
		perm = "full_access"
	}
	for _, e := range catalog.Fold(items) {
		if !e.Exists || (r.key != nil && !r.key.Allows(e.DB)) {
			continue
		}
		if e.Table == "" {
			flush()
			cur = &databaseJSON{ID: strconv.Itoa(stableID(e.DB)), Name: e.DB, Permission: perm,
				CreatedAt: time.Unix(e.CreatedAt, 0).UTC().Format(tdTimeFormat)}
			upd = max(e.UpdatedAt, e.CreatedAt)
			continue
		}
		if cur == nil || cur.Name != e.DB {
			continue // tables whose database item is missing are not listed
		}
		cur.Count += e.Count
		upd = max(upd, e.UpdatedAt)
	}
	flush()
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	out, _ := json.Marshal(map[string]any{"databases": list})
	return jsonResponse(http.StatusOK, string(out)), nil
}
