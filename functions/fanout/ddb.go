package fanout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/layout"
)

// catalogItem is what fanout reads of a catalog table item.
type catalogItem struct {
	MinTime *int64            `dynamodbav:"min_time"`
	MaxTime *int64            `dynamodbav:"max_time"`
	Schema  map[string]string `dynamodbav:"schema"`
}

// batchGet returns which of keys exist in table (BatchGetItem, 100 keys per call).
func (h *Handler) batchGet(ctx context.Context, table string, keys []map[string]types.AttributeValue, proj string, pn map[string]string) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for len(keys) > 0 {
		n := min(len(keys), 100)
		req := map[string]types.KeysAndAttributes{table: {Keys: keys[:n], ProjectionExpression: aws.String(proj), ExpressionAttributeNames: pn}}
		keys = keys[n:]
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 8 {
				return nil, fmt.Errorf("batch get %s: unprocessed keys after %d attempts", table, attempt)
			}
			res, err := h.ddb.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("batch get %s: %w", table, err)
			}
			out = append(out, res.Responses[table]...)
			req = res.UnprocessedKeys
			if len(req) > 0 {
				if err := sleepCtx(ctx, time.Duration(1<<attempt)*10*time.Millisecond); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// dropDone removes parts whose ledger entry already exists.
func (h *Handler) dropDone(ctx context.Context, parts []*part) ([]*part, error) {
	if len(parts) == 0 {
		return parts, nil
	}
	keys := make([]map[string]types.AttributeValue, 0, len(parts))
	for _, p := range parts {
		keys = append(keys, map[string]types.AttributeValue{layout.AttrLedgerID: str(layout.LedgerID(p.id))})
	}
	found, err := h.batchGet(ctx, h.cfg.LedgerTable, keys, layout.AttrLedgerID, nil)
	if err != nil {
		return parts, err
	}
	done := map[string]bool{}
	for _, it := range found {
		if v, ok := it[layout.AttrLedgerID].(*types.AttributeValueMemberS); ok {
			done[v.Value] = true
		}
	}
	kept := parts[:0]
	for _, p := range parts {
		if !done[layout.LedgerID(p.id)] {
			kept = append(kept, p)
		}
	}
	return kept, nil
}

// loadCatalog reads the catalog items of the tables in parts; missing tables
// are absent from the map.
func (h *Handler) loadCatalog(ctx context.Context, parts []*part) (map[tableKey]*catalogItem, error) {
	out := map[tableKey]*catalogItem{}
	for tk := range byTable(parts) {
		it, err := h.getCatalog(ctx, tk)
		if err != nil {
			return nil, err
		}
		if it != nil {
			out[tk] = it
		}
	}
	return out, nil
}

func (h *Handler) getCatalog(ctx context.Context, tk tableKey) (*catalogItem, error) {
	res, err := h.ddb.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(h.cfg.CatalogTable), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{layout.AttrCatalogDB: str(tk.db), layout.AttrCatalogTable: str(tk.table)},
	})
	if err != nil {
		return nil, fmt.Errorf("get catalog %s.%s: %w", tk.db, tk.table, err)
	}
	if res.Item == nil {
		return nil, nil
	}
	var it catalogItem
	if err := attributevalue.UnmarshalMap(res.Item, &it); err != nil {
		return nil, fmt.Errorf("decode catalog %s.%s: %w", tk.db, tk.table, err)
	}
	return &it, nil
}

// updateBounds widens min_time, max_time and schema of a table with
// optimistic concurrency; these are idempotent, so replays are harmless.
func (h *Handler) updateBounds(ctx context.Context, tk tableKey, cur *catalogItem, parts []*part, now time.Time) error {
	var lo, hi int64
	have := false
	schema := Schema{}
	for _, p := range parts {
		for _, g := range p.groups {
			if g.future {
				continue
			}
			if !have {
				lo, hi, have = g.minT, g.maxT, true
			}
			lo, hi = min(lo, g.minT), max(hi, g.maxT)
		}
		schema.Merge(p.schema)
	}
	if h.cfg.AutoCreate && cur == nil {
		_, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(h.cfg.CatalogTable),
			Key:                       map[string]types.AttributeValue{layout.AttrCatalogDB: str(tk.db), layout.AttrCatalogTable: str(layout.DatabaseItem)},
			UpdateExpression:          aws.String("SET created_at = if_not_exists(created_at, :now), updated_at = :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
		})
		if err != nil {
			return fmt.Errorf("create catalog database %s: %w", tk.db, err)
		}
	}
	for attempt := 0; ; attempt++ {
		if cur == nil {
			cur = &catalogItem{}
		}
		newSchema := Schema{}
		for c, t := range cur.Schema {
			newSchema[c] = t
		}
		changed := newSchema.Merge(schema) || cur.Schema == nil
		nlo, nhi := cur.MinTime, cur.MaxTime
		if have {
			if nlo == nil || lo < *nlo {
				nlo, changed = &lo, true
			}
			if nhi == nil || hi > *nhi {
				nhi, changed = &hi, true
			}
		}
		if !changed {
			return nil
		}
		names := map[string]string{"#s": "schema", "#lo": "min_time", "#hi": "max_time"}
		sv, err := attributevalue.Marshal(map[string]string(newSchema))
		if err != nil {
			return fmt.Errorf("encode schema: %w", err)
		}
		vals := map[string]types.AttributeValue{":s": sv, ":now": num(now.Unix())}
		set := "SET #s = :s, created_at = if_not_exists(created_at, :now), updated_at = :now"
		var conds []string
		if cur.Schema == nil {
			conds = append(conds, "attribute_not_exists(#s)")
		} else {
			ov, _ := attributevalue.Marshal(cur.Schema)
			vals[":os"] = ov
			conds = append(conds, "#s = :os")
		}
		addBound := func(name, ph string, nv, ov *int64) {
			if nv == nil {
				return
			}
			set += ", " + name + " = " + ph
			vals[ph] = num(*nv)
			if ov == nil {
				conds = append(conds, "attribute_not_exists("+name+")")
			} else {
				vals[ph+"o"] = num(*ov)
				conds = append(conds, name+" = "+ph+"o")
			}
		}
		addBound("#lo", ":lo", nlo, cur.MinTime)
		addBound("#hi", ":hi", nhi, cur.MaxTime)
		if !h.cfg.AutoCreate {
			conds = append(conds, "attribute_exists("+layout.AttrCatalogDB+")")
		}
		cond := conds[0]
		for _, c := range conds[1:] {
			cond += " AND " + c
		}
		_, err = h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(h.cfg.CatalogTable),
			Key:                       map[string]types.AttributeValue{layout.AttrCatalogDB: str(tk.db), layout.AttrCatalogTable: str(tk.table)},
			UpdateExpression:          aws.String(set),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ccf) && attempt < 10:
			if cur, err = h.getCatalog(ctx, tk); err != nil {
				return err
			}
			if cur == nil && !h.cfg.AutoCreate {
				return fmt.Errorf("catalog table %s.%s vanished", tk.db, tk.table)
			}
		default:
			return fmt.Errorf("update catalog bounds %s.%s: %w", tk.db, tk.table, err)
		}
	}
}

// commit writes the ledger entry, staged items and catalog counters of one
// part in one transaction. done reports that the ledger already held it.
//
// A part with more staged objects than one transaction holds (events over
// more than maxStagedPerPart hours) is committed in chunks of its sorted
// staged objects (maxStagedPerPart-1 each), the same on every delivery: chunk k under the ledger id
// of "<part id>#k", each with its own counters, and the last chunk also
// under the part's own ledger id (which dropDone checks). A chunk found in
// the ledger was committed by an earlier delivery and is skipped, so a
// crash between chunks resumes where it stopped, exactly once. ("#" never
// occurs in the numeric part number that ends a part id, so a chunk id is
// never another part's id.)
func (h *Handler) commit(ctx context.Context, p *part, now time.Time) (done bool, err error) {
	var staged, future []*group
	for _, g := range p.groups {
		if g.future {
			future = append(future, g)
		} else {
			staged = append(staged, g)
		}
	}
	if len(staged) <= maxStagedPerPart {
		return h.commitChunk(ctx, p, []string{layout.LedgerID(p.id)}, staged, future, now)
	}
	const size = maxStagedPerPart - 1 // room for the last chunk's second ledger entry
	done = true
	for k := 0; k*size < len(staged); k++ {
		chunk := staged[k*size : min((k+1)*size, len(staged))]
		ids := []string{layout.LedgerID(p.id + "#" + strconv.Itoa(k))}
		var fut []*group
		if (k+1)*size >= len(staged) {
			ids, fut = append(ids, layout.LedgerID(p.id)), future
		}
		d, err := h.commitChunk(ctx, p, ids, chunk, fut, now)
		if err != nil {
			return false, err
		}
		done = done && d
	}
	return done, nil
}

// commitChunk puts the ledger entries ids (conditionally: the first one
// found means the chunk was committed before, and done is true), the staged
// items of groups, and the catalog counters of groups and future in one
// transaction.
func (h *Handler) commitChunk(ctx context.Context, p *part, ids []string, groups, future []*group, now time.Time) (done bool, err error) {
	var n, late, nfuture, nbytes int64
	var items []types.TransactWriteItem
	for _, id := range ids {
		items = append(items, types.TransactWriteItem{
			Put: &types.Put{
				TableName: aws.String(h.cfg.LedgerTable),
				Item: map[string]types.AttributeValue{
					layout.AttrLedgerID: str(id), "db": str(p.env.DB), "table": str(p.env.Table), "unique_id": str(p.env.UniqueID),
					"part": num(int64(p.env.Part)), "events": num(int64(len(p.events))),
					"committed_at": num(now.Unix()), "expires_at": num(now.Add(h.cfg.LedgerTTL).Unix()),
				},
				ConditionExpression: aws.String("attribute_not_exists(" + layout.AttrLedgerID + ")"),
			},
		})
	}
	for _, g := range future {
		nfuture += int64(g.events)
	}
	for _, g := range groups {
		n += int64(g.events)
		nbytes += g.bytes
		if g.late {
			late += int64(g.events)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(h.cfg.ManifestTable),
			Item: map[string]types.AttributeValue{
				layout.AttrPK: str(layout.StagedPK(p.env.DB, p.env.Table)), layout.AttrSK: str(g.key),
				"events": num(int64(g.events)), "bytes": num(g.bytes), "dt": str(g.part.DT()), "hour": str(g.part.HH()),
				"hour_unix": num(g.part.Hour), "late": &types.AttributeValueMemberBOOL{Value: g.late},
				"part_id": str(p.id), "created_at": num(now.Unix()),
			},
		}})
	}
	items = append(items, types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(h.cfg.CatalogTable),
		Key:       map[string]types.AttributeValue{layout.AttrCatalogDB: str(p.env.DB), layout.AttrCatalogTable: str(p.env.Table)},
		UpdateExpression: aws.String("ADD #c :n, #b :b, late_count :l, future_count :f " +
			"SET updated_at = :now, last_import_at = :now, created_at = if_not_exists(created_at, :now)"),
		ExpressionAttributeNames: map[string]string{"#c": "count", "#b": "bytes"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": num(n), ":b": num(nbytes), ":l": num(late), ":f": num(nfuture), ":now": num(now.Unix()),
		},
	}})
	in := &dynamodb.TransactWriteItemsInput{TransactItems: items}
	for attempt := 0; ; attempt++ {
		_, err = h.ddb.TransactWriteItems(ctx, in)
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			break
		}
		if len(tce.CancellationReasons) > 0 && aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
			return true, nil
		}
		if attempt >= 5 || !conflict(tce) {
			break
		}
		if err := sleepCtx(ctx, time.Duration(10<<attempt)*time.Millisecond); err != nil {
			return false, err
		}
	}
	if err != nil {
		return false, fmt.Errorf("commit part %s (ledger %s): %w", p.id, ids[0], err)
	}
	return false, nil
}

// conflict reports whether a cancelled transaction lost a race with another
// transaction (worth retrying) rather than failing a condition.
func conflict(tce *types.TransactionCanceledException) bool {
	for _, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "TransactionConflict" {
			return true
		}
	}
	return false
}
