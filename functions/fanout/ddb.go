package fanout

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/backoff"
	"github.com/spillwayhq/spillway/shared/layout"
)

// catalogItem is what fanout reads of a catalog table item (attribute
// names as shared/catalog reads them; fanout does not link shared/catalog,
// whose readers call Query, which fanout's IAM policy does not allow).
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
				if err := backoff.Sleep(ctx, time.Duration(1<<attempt)*10*time.Millisecond); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
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

// updateBounds widens the schema, min_time and max_time of a table's own
// catalog item. None of it is written in the commit transactions, and each
// write happens only when it changes something, so a table's steady state
// (known columns, events later than max_time) writes max_time alone: the
// schema is rewritten only when a column appears or widens (optimistic
// concurrency on the whole map), and each bound is set by a write whose
// condition holds only while it widens the stored bound (a failed condition
// means another batch widened it further: nothing to do). These writes are
// idempotent, so replays are harmless.
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
	cur, err := h.updateSchema(ctx, tk, cur, schema, now)
	if err != nil || !have {
		return err
	}
	if cur.MinTime == nil || lo < *cur.MinTime {
		if err := h.widenBound(ctx, tk, "min_time", ">", lo, now); err != nil {
			return err
		}
	}
	if cur.MaxTime == nil || hi > *cur.MaxTime {
		if err := h.widenBound(ctx, tk, "max_time", "<", hi, now); err != nil {
			return err
		}
	}
	return nil
}

// updateSchema merges schema into the table item's schema map when that
// changes it (or the item has none yet), with optimistic concurrency on
// the whole map; it returns the item as last read or written.
func (h *Handler) updateSchema(ctx context.Context, tk tableKey, cur *catalogItem, schema Schema, now time.Time) (*catalogItem, error) {
	for attempt := 0; ; attempt++ {
		if cur == nil {
			cur = &catalogItem{}
		}
		newSchema := Schema{}
		for c, t := range cur.Schema {
			newSchema[c] = t
		}
		changed, dropped := newSchema.MergeCapped(schema)
		changed = changed || cur.Schema == nil
		if len(dropped) > 0 {
			h.log.WarnContext(ctx, "catalog schema full, columns not recorded", "db", tk.db, "table", tk.table,
				"max_columns", MaxSchemaColumns, "dropped", len(dropped), "first", dropped[0])
		}
		if !changed {
			return cur, nil
		}
		sv, err := attributevalue.Marshal(map[string]string(newSchema))
		if err != nil {
			return nil, fmt.Errorf("encode schema: %w", err)
		}
		vals := map[string]types.AttributeValue{":s": sv, ":now": num(now.Unix())}
		cond := "attribute_not_exists(#s)"
		if cur.Schema != nil {
			vals[":os"], _ = attributevalue.Marshal(cur.Schema)
			cond = "#s = :os"
		}
		if !h.cfg.AutoCreate {
			cond += " AND attribute_exists(" + layout.AttrCatalogDB + ")"
		}
		_, err = h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(h.cfg.CatalogTable),
			Key:                       map[string]types.AttributeValue{layout.AttrCatalogDB: str(tk.db), layout.AttrCatalogTable: str(tk.table)},
			UpdateExpression:          aws.String("SET #s = :s, created_at = if_not_exists(created_at, :now), updated_at = :now"),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  map[string]string{"#s": "schema"},
			ExpressionAttributeValues: vals,
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			cur.Schema = newSchema
			return cur, nil
		case errors.As(err, &ccf) && attempt < 10:
			if cur, err = h.getCatalog(ctx, tk); err != nil {
				return nil, err
			}
			if cur == nil && !h.cfg.AutoCreate {
				return nil, fmt.Errorf("catalog table %s.%s vanished", tk.db, tk.table)
			}
		default:
			return nil, fmt.Errorf("update catalog schema %s.%s: %w", tk.db, tk.table, err)
		}
	}
}

// widenBound sets bound attr of the table item to v unless the stored value
// is already as wide (cmp is ">" for a lower bound: the stored value must be
// greater for v to widen it; "<" for an upper bound).
func (h *Handler) widenBound(ctx context.Context, tk tableKey, attr, cmp string, v int64, now time.Time) error {
	cond := "(attribute_not_exists(#a) OR #a " + cmp + " :v)"
	if !h.cfg.AutoCreate {
		cond += " AND attribute_exists(" + layout.AttrCatalogDB + ")"
	}
	_, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.cfg.CatalogTable),
		Key:                       map[string]types.AttributeValue{layout.AttrCatalogDB: str(tk.db), layout.AttrCatalogTable: str(tk.table)},
		UpdateExpression:          aws.String("SET #a = :v, updated_at = :now"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#a": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(v), ":now": num(now.Unix())},
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ccf):
		if h.cfg.AutoCreate {
			return nil // another batch widened it further
		}
		it, err := h.getCatalog(ctx, tk)
		if err != nil {
			return err
		}
		if it == nil {
			return fmt.Errorf("catalog table %s.%s vanished", tk.db, tk.table)
		}
		return nil
	default:
		return fmt.Errorf("widen catalog %s of %s.%s: %w", attr, tk.db, tk.table, err)
	}
}

// unit is what one transaction entry set commits for a part: its ledger
// entries, staged items and the counters they add.
type unit struct {
	p      *part
	ids    []string // ledger ids; the first one decides "already committed"
	groups []*group // staged objects
	future []*group // quarantined-future objects (counted only)
}

// units splits a part into what it commits. A part commits as one unit
// under its ledger id, unless it has more staged objects than one
// transaction holds (events over more than maxStagedPerPart hours): then
// it commits in chunks of its sorted staged objects (maxStagedPerPart-1
// each), the same on every delivery: chunk k under the ledger id of
// "<part id>#k", each with its own counters, and the last chunk also under
// the part's own ledger id (which dropDone checks). A chunk found in the
// ledger was committed by an earlier delivery and is skipped, so a crash
// between chunks resumes where it stopped, exactly once. ("#" never occurs
// in the numeric part number that ends a part id, so a chunk id is never
// another part's id.)
func units(p *part) []unit {
	var staged, future []*group
	for _, g := range p.groups {
		if g.future {
			future = append(future, g)
		} else {
			staged = append(staged, g)
		}
	}
	if len(staged) <= maxStagedPerPart {
		return []unit{{p: p, ids: []string{layout.LedgerID(p.id)}, groups: staged, future: future}}
	}
	const size = maxStagedPerPart - 1 // room for the last chunk's second ledger entry
	var out []unit
	for k := 0; k*size < len(staged); k++ {
		u := unit{p: p, ids: []string{layout.LedgerID(p.id + "#" + strconv.Itoa(k))}, groups: staged[k*size : min((k+1)*size, len(staged))]}
		if (k+1)*size >= len(staged) {
			u.ids, u.future = append(u.ids, layout.LedgerID(p.id)), future
		}
		out = append(out, u)
	}
	return out
}

func (u unit) size() int { return len(u.ids) + len(u.groups) }

// commitPacks commits one table's packs, in order, one transaction each
// (see commitPack). It returns the parts whose every unit was committed
// before, and the parts that could not be committed (with the error; nil
// for a part that failed earlier in the batch).
func (h *Handler) commitPacks(ctx context.Context, packs []*pack, now time.Time) (done map[*part]bool, failed map[*part]error) {
	done, failed = map[*part]bool{}, map[*part]error{}
	for _, pk := range packs {
		err := h.commitPack(ctx, pk, now)
		for i, u := range pk.units {
			switch _, seen := done[u.p]; {
			case u.p.failed || err != nil:
				if failed[u.p] == nil {
					failed[u.p] = err // the first error; nil for a part failed earlier
				}
			case !seen:
				done[u.p] = pk.dup[i]
			default:
				done[u.p] = done[u.p] && pk.dup[i]
			}
		}
	}
	for p := range failed {
		delete(done, p)
	}
	return done, failed
}

// commitPack commits pk's live units in one transaction: their ledger
// entries (conditional on absence), one staged item per merged staged
// object, and one update of a catalog counter item for all of them. A unit
// whose first ledger entry exists was committed before: it is marked in
// pk.dup and the transaction is retried without it, after staging the
// remaining units' objects afresh (their set, and so the objects' names,
// changed; the objects staged for the old set are left unreferenced).
func (h *Handler) commitPack(ctx context.Context, pk *pack, now time.Time) error {
	for attempt := 0; ; attempt++ {
		live := pk.live()
		if len(live) == 0 {
			return nil
		}
		if err := h.stage(ctx, pk); err != nil {
			return err
		}
		var items []types.TransactWriteItem
		var first []int // index in pk.units of the unit whose first ledger entry is items[i], -1 otherwise
		var n, late, nfuture, nbytes int64
		db, table := live[0].p.env.DB, live[0].p.env.Table
		for i, u := range pk.units {
			if pk.dup[i] || u.p.failed {
				continue
			}
			for j, it := range h.ledgerItems(u, now) {
				items = append(items, it)
				if j == 0 {
					first = append(first, i)
				} else {
					first = append(first, -1)
				}
			}
			for _, g := range u.future {
				nfuture += int64(g.events)
			}
		}
		for _, g := range pk.staged {
			items = append(items, h.stagedItem(g, now))
			n += int64(g.events)
			nbytes += g.bytes
			if g.late {
				late += int64(g.events)
			}
		}
		ch, cr := layout.CounterKey(db, table, counterItem(live, attempt, h.cfg.CounterItems))
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(h.cfg.CatalogTable),
			Key:       map[string]types.AttributeValue{layout.AttrCatalogDB: str(ch), layout.AttrCatalogTable: str(cr)},
			UpdateExpression: aws.String("ADD #c :n, #b :b, late_count :l, future_count :f " +
				"SET updated_at = :now, last_import_at = :now"),
			ExpressionAttributeNames: map[string]string{"#c": "count", "#b": "bytes"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":n": num(n), ":b": num(nbytes), ":l": num(late), ":f": num(nfuture), ":now": num(now.Unix()),
			},
		}})
		_, err := h.ddb.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			if err != nil {
				return fmt.Errorf("commit %d units of %s.%s: %w", len(live), db, table, err)
			}
			return nil
		}
		dropped := false
		for at, i := range first {
			if i >= 0 && at < len(tce.CancellationReasons) && aws.ToString(tce.CancellationReasons[at].Code) == "ConditionalCheckFailed" {
				pk.dup[i], dropped = true, true
			}
		}
		switch {
		case dropped: // retry without the units committed before
		case conflict(tce) && attempt < awsconf.ConflictAttempts-1:
			if err := backoff.Sleep(ctx, awsconf.ConflictBackoff(attempt)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("commit %d units of %s.%s: %w", len(live), db, table, err)
		}
	}
}

// ledgerItems are u's ledger puts, each conditional on absence.
func (h *Handler) ledgerItems(u unit, now time.Time) []types.TransactWriteItem {
	p := u.p
	var items []types.TransactWriteItem
	for _, id := range u.ids {
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(h.cfg.LedgerTable),
			Item: map[string]types.AttributeValue{
				layout.AttrLedgerID: str(id), "db": str(p.env.DB), "table": str(p.env.Table), "unique_id": str(p.env.UniqueID),
				"part": num(int64(p.env.Part)), "events": num(int64(len(p.events))),
				"committed_at": num(now.Unix()), "expires_at": num(now.Add(h.cfg.LedgerTTL).Unix()),
			},
			ConditionExpression: aws.String("attribute_not_exists(" + layout.AttrLedgerID + ")"),
		}})
	}
	return items
}

// stagedItem is the staged item put of a merged staged object g.
func (h *Handler) stagedItem(g *group, now time.Time) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(h.cfg.ManifestTable),
		Item: map[string]types.AttributeValue{
			layout.AttrPK: str(layout.StagedPK(g.part.DB, g.part.Table)), layout.AttrSK: str(g.key),
			"events": num(int64(g.events)), "bytes": num(g.bytes), "dt": str(g.part.DT()), "hour": str(g.part.HH()),
			"hour_unix": num(g.part.Hour), "late": &types.AttributeValueMemberBOOL{Value: g.late},
			"parts": num(int64(g.parts)), "created_at": num(now.Unix()),
		},
	}}
}

// counterItem chooses the counter item a pack's transaction adds to: a
// hash of the pack's first ledger id and the attempt, so that concurrent
// commits of one table spread over n items and a transaction that lost a
// race retries on an item chosen afresh (not a neighbour, which a run of
// busy items would keep busy). Any choice is correct (readers sum every
// counter item); the ledger entries in the same transaction make the
// counts exactly-once.
func counterItem(live []unit, attempt, n int) int {
	f := fnv.New64a()
	_, _ = f.Write([]byte(live[0].ids[0]))
	_, _ = f.Write([]byte{byte(attempt), byte(attempt >> 8)})
	return int(f.Sum64() % uint64(n))
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
