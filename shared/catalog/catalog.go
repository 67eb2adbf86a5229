// Package catalog owns reading the table catalog: a table's entry is its
// own item (schema, min_time, max_time, created_at: written rarely) folded
// with its counter items (count, bytes, late_count, future_count,
// last_import_at, updated_at: one of them written by every commit), whose
// keys shared/layout formats (CounterKey). Every reader of counts (ingest's
// TD API, the local cloud, tests) folds through here, so a table's counts
// are the sum over its items whatever the number of counter items, and
// counts written on the table item itself (before counter items existed)
// still count.
package catalog

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/layout"
)

// Entry is one table (or database) of the catalog, its items folded.
type Entry struct {
	DB    string
	Table string // "" for a database's own item
	// Exists reports whether the table's (or database's) own item exists;
	// counter items alone do not make a table.
	Exists bool
	// Item is the table's own item as stored (nil when absent).
	Item map[string]types.AttributeValue

	Count, Bytes, LateCount, FutureCount int64 // sums over the items
	MinTime, MaxTime                     int64 // event time bounds; 0 when unknown
	CreatedAt                            int64 // Unix seconds; 0 when unknown
	UpdatedAt, LastImportAt              int64 // latest over the items
	Schema                               map[string]string
}

// Counter attribute names (numbers added by commits) and the other
// attributes Fold reads.
const (
	AttrCount        = "count"
	AttrBytes        = "bytes"
	AttrLateCount    = "late_count"
	AttrFutureCount  = "future_count"
	AttrLastImportAt = "last_import_at"
	AttrUpdatedAt    = "updated_at"
	AttrCreatedAt    = "created_at"
	AttrMinTime      = "min_time"
	AttrMaxTime      = "max_time"
	AttrSchema       = "schema"
)

// Fold folds catalog items (table, counter and database items, in any
// order) into one Entry per table or database, sorted by db then table
// (database entries first). Items whose key does not parse are skipped.
func Fold(items []map[string]types.AttributeValue) []Entry {
	byKey := map[[2]string]*Entry{}
	get := func(db, table string) *Entry {
		k := [2]string{db, table}
		e := byKey[k]
		if e == nil {
			e = &Entry{DB: db, Table: table}
			byKey[k] = e
		}
		return e
	}
	for _, it := range items {
		hash, rng := str(it[layout.AttrCatalogDB]), str(it[layout.AttrCatalogTable])
		if db, table, _, ok, err := layout.ParseCounterKey(hash, rng); ok && err == nil {
			get(db, table).addCounters(it)
			continue
		}
		db, table, err := layout.ParseCatalogKey(hash, rng)
		if err != nil {
			continue
		}
		e := get(db, table)
		e.Exists, e.Item = true, it
		e.addCounters(it)
		e.CreatedAt = num(it[AttrCreatedAt])
		e.MinTime, e.MaxTime = num(it[AttrMinTime]), num(it[AttrMaxTime])
		if m, ok := it[AttrSchema].(*types.AttributeValueMemberM); ok {
			e.Schema = make(map[string]string, len(m.Value))
			for c, v := range m.Value {
				if s, ok := v.(*types.AttributeValueMemberS); ok {
					e.Schema[c] = s.Value
				}
			}
		}
	}
	out := make([]Entry, 0, len(byKey))
	for _, e := range byKey {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DB != out[j].DB {
			return out[i].DB < out[j].DB
		}
		return out[i].Table < out[j].Table
	})
	return out
}

func (e *Entry) addCounters(it map[string]types.AttributeValue) {
	e.Count += num(it[AttrCount])
	e.Bytes += num(it[AttrBytes])
	e.LateCount += num(it[AttrLateCount])
	e.FutureCount += num(it[AttrFutureCount])
	e.UpdatedAt = max(e.UpdatedAt, num(it[AttrUpdatedAt]))
	e.LastImportAt = max(e.LastImportAt, num(it[AttrLastImportAt]))
}

// QueryAPI is the DynamoDB call ReadTable and ReadDatabase need.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ QueryAPI = (*dynamodb.Client)(nil)

// ReadTable reads db.table's items (one Query) and folds them; ok is false
// when the table's own item does not exist.
func ReadTable(ctx context.Context, api QueryAPI, catalogTable, db, table string, consistent bool) (e Entry, ok bool, err error) {
	lo, hi := layout.TableItemsRange(table)
	items, err := query(ctx, api, &dynamodb.QueryInput{
		TableName: aws.String(catalogTable), ConsistentRead: aws.Bool(consistent),
		KeyConditionExpression:   aws.String("#db = :db AND #t BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#db": layout.AttrCatalogDB, "#t": layout.AttrCatalogTable},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":db": &types.AttributeValueMemberS{Value: db}, ":lo": &types.AttributeValueMemberS{Value: lo}, ":hi": &types.AttributeValueMemberS{Value: hi},
		},
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("read catalog %s.%s: %w", db, table, err)
	}
	for _, f := range Fold(items) {
		if f.DB == db && f.Table == table {
			return f, f.Exists, nil
		}
	}
	return Entry{DB: db, Table: table}, false, nil
}

// ReadDatabase reads every item of db (one paginated Query) and folds them:
// the database's own entry (Table "") first when it exists, then its
// tables.
func ReadDatabase(ctx context.Context, api QueryAPI, catalogTable, db string, consistent bool) ([]Entry, error) {
	items, err := query(ctx, api, &dynamodb.QueryInput{
		TableName: aws.String(catalogTable), ConsistentRead: aws.Bool(consistent),
		KeyConditionExpression:    aws.String("#db = :db"),
		ExpressionAttributeNames:  map[string]string{"#db": layout.AttrCatalogDB},
		ExpressionAttributeValues: map[string]types.AttributeValue{":db": &types.AttributeValueMemberS{Value: db}},
	})
	if err != nil {
		return nil, fmt.Errorf("read catalog database %s: %w", db, err)
	}
	return Fold(items), nil
}

func query(ctx context.Context, api QueryAPI, in *dynamodb.QueryInput) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(api, in)
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		items = append(items, pg.Items...)
	}
	return items, nil
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// num reads a number attribute (integer, or a float truncated); 0 when
// absent or not a number.
func num(v types.AttributeValue) int64 {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		return i
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		return 0
	}
	return int64(f)
}
