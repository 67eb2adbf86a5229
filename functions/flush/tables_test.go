package flush

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/layout"
)

// TestTablesSkipsCounterItems: a table's counter items (fanout spreads its
// counts over them) and database items are not tables to flush.
func TestTablesSkipsCounterItems(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.stage(t, "db_one", "tbl_a", hourT, false, "p1", "a1")
	key := func(h, r string) [2]string { return [2]string{h, r} }
	for _, k := range [][2]string{
		key(layout.CatalogKey("db_one", "")),
		key(layout.CounterKey("db_one", "tbl_a", 0)),
		key(layout.CounterKey("db_one", "tbl_a", 15)),
	} {
		if _, err := e.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.cfg.CatalogTable), Item: map[string]types.AttributeValue{
			"db": str(k[0]), "table": str(k[1]), "count": num(1)}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.handler(t, time.Unix(hourT, 0), nil).tables(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := [][2]string{{"db_one", "tbl_a"}}; !slices.Equal(got, want) {
		t.Errorf("tables = %v, want %v", got, want)
	}
}
