package catalog

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/layout"
)

func item(hash, rng string, nums map[string]int64) map[string]types.AttributeValue {
	it := map[string]types.AttributeValue{
		layout.AttrCatalogDB: &types.AttributeValueMemberS{Value: hash}, layout.AttrCatalogTable: &types.AttributeValueMemberS{Value: rng},
	}
	for k, v := range nums {
		it[k] = &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	return it
}

func TestFold(t *testing.T) {
	c0h, c0r := layout.CounterKey("d_b", "t_a", 0)
	c5h, c5r := layout.CounterKey("d_b", "t_a", 5)
	orphanH, orphanR := layout.CounterKey("d_b", "t_gone", 1)
	tableA := item("d_b", "t_a", map[string]int64{AttrCount: 30, AttrBytes: 300, AttrMinTime: 100, AttrMaxTime: 200, AttrCreatedAt: 10, AttrUpdatedAt: 11, AttrLastImportAt: 11})
	tableA[AttrSchema] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"host": &types.AttributeValueMemberS{Value: "string"}}}
	items := []map[string]types.AttributeValue{
		item(c5h, c5r, map[string]int64{AttrCount: 2, AttrBytes: 20, AttrLateCount: 1, AttrUpdatedAt: 40, AttrLastImportAt: 40}),
		tableA,
		item(c0h, c0r, map[string]int64{AttrCount: 10, AttrBytes: 100, AttrFutureCount: 3, AttrUpdatedAt: 30, AttrLastImportAt: 30}),
		item("d_b", layout.DatabaseItem, map[string]int64{AttrCreatedAt: 5, AttrUpdatedAt: 6}),
		item(orphanH, orphanR, map[string]int64{AttrCount: 7}),
		item("D_B", "bad key", map[string]int64{AttrCount: 1000}),
	}
	got := Fold(items)
	want := []Entry{
		{DB: "d_b", Exists: true, Item: items[3], CreatedAt: 5, UpdatedAt: 6},
		{DB: "d_b", Table: "t_a", Exists: true, Item: tableA, Count: 42, Bytes: 420, LateCount: 1, FutureCount: 3,
			MinTime: 100, MaxTime: 200, CreatedAt: 10, UpdatedAt: 40, LastImportAt: 40, Schema: map[string]string{"host": "string"}},
		{DB: "d_b", Table: "t_gone", Count: 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Fold =\n%+v\nwant\n%+v", got, want)
	}
}
