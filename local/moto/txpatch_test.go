package moto_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/local/moto"
)

// startMotoWith starts a server with extra environment.
func startMotoWith(tb testing.TB, env ...string) *moto.Server {
	tb.Helper()
	s, err := moto.Start(context.Background(), moto.Options{Env: env})
	if err != nil {
		tb.Fatalf("start moto: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func ddbClient(url string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// txTable creates table name (pk string key) holding n items "i0".."i<n-1>"
// with v = 0.
func txTable(tb testing.TB, ctx context.Context, c *dynamodb.Client, name string, n int) {
	tb.Helper()
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		tb.Fatalf("create table %s: %v", name, err)
	}
	for i := 0; i < n; i += 25 {
		var reqs []types.WriteRequest
		for j := i; j < min(i+25, n); j++ {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("i%d", j)}, "v": &types.AttributeValueMemberN{Value: "0"}}}})
		}
		if _, err := c.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{name: reqs}}); err != nil {
			tb.Fatalf("fill table %s: %v", name, err)
		}
	}
}

func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
}

// tableState reads every item of name as pk -> v ("" for no v).
func tableState(tb testing.TB, ctx context.Context, c *dynamodb.Client, name string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(name), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			tb.Fatalf("scan %s: %v", name, err)
		}
		for _, it := range pg.Items {
			v := ""
			if n, ok := it["v"].(*types.AttributeValueMemberN); ok {
				v = n.Value
			}
			out[it["pk"].(*types.AttributeValueMemberS).Value] = v
		}
	}
	return out
}

// TestTransactionPatch checks that moto keeps its transaction semantics
// with the patch (sitecustomize.py) as without it: a failed transaction
// leaves every item as it was (puts, updates and deletes before the
// failing action undone, on two tables), its cancellation reasons name
// the failing action, and a successful one applies every action.
func TestTransactionPatch(t *testing.T) {
	servers := map[string]*moto.Server{
		"patched":   startMotoWith(t),
		"unpatched": startMotoWith(t, "SPILLWAY_MOTO_UNPATCHED=1"),
	}
	for mode, srv := range servers {
		t.Run(mode, func(t *testing.T) {
			logs, err := os.ReadFile(srv.LogPath())
			if err != nil {
				t.Fatal(err)
			}
			wantLog := map[string]string{"patched": "backs up items, not tables", "unpatched": "moto runs unpatched"}[mode]
			if !strings.Contains(string(logs), wantLog) {
				t.Fatalf("moto's log does not say %q:\n%s", wantLog, logs)
			}
			ctx := context.Background()
			c := ddbClient(srv.URL())
			txTable(t, ctx, c, "a", 5)
			txTable(t, ctx, c, "b", 5)
			before := map[string]map[string]string{"a": tableState(t, ctx, c, "a"), "b": tableState(t, ctx, c, "b")}
			set := func(table, pk, v string) types.TransactWriteItem {
				return types.TransactWriteItem{Update: &types.Update{TableName: aws.String(table), Key: key(pk),
					UpdateExpression:          aws.String("SET v = :v"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: v}}}}
			}
			put := func(table, pk string) types.TransactWriteItem {
				return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table), Item: key(pk)}}
			}
			del := func(table, pk string) types.TransactWriteItem {
				return types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(table), Key: key(pk)}}
			}
			failing := types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{TableName: aws.String("b"), Key: key("i4"),
				ConditionExpression: aws.String("attribute_not_exists(pk)")}}

			_, err = c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				set("a", "i0", "7"), put("a", "new"), del("a", "i1"), set("b", "i2", "9"), put("b", "i3"), failing}})
			var tce *types.TransactionCanceledException
			if !errors.As(err, &tce) {
				t.Fatalf("failing transaction: got %v, want TransactionCanceledException", err)
			}
			codes := make([]string, len(tce.CancellationReasons))
			for i, r := range tce.CancellationReasons {
				codes[i] = aws.ToString(r.Code)
			}
			if got, want := strings.Join(codes, ","), "None,None,None,None,None,ConditionalCheckFailed"; got != want {
				t.Errorf("cancellation reasons %s, want %s", got, want)
			}
			for _, table := range []string{"a", "b"} {
				if got := tableState(t, ctx, c, table); fmt.Sprint(got) != fmt.Sprint(before[table]) {
					t.Errorf("table %s after the failed transaction: %v, want %v", table, got, before[table])
				}
			}

			_, err = c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				set("a", "i0", "7"), put("a", "new"), del("a", "i1"), set("b", "i2", "9")}})
			if err != nil {
				t.Fatalf("transaction: %v", err)
			}
			wantA := map[string]string{"i0": "7", "i2": "0", "i3": "0", "i4": "0", "new": ""}
			if got := tableState(t, ctx, c, "a"); fmt.Sprint(got) != fmt.Sprint(wantA) {
				t.Errorf("table a after the transaction: %v, want %v", got, wantA)
			}
			if got := tableState(t, ctx, c, "b")["i2"]; got != "9" {
				t.Errorf("b.i2 = %q after the transaction, want 9", got)
			}
		})
	}
}

// BenchmarkTransactWriteTableSize times a 10-action transaction (new
// items, as fanout's ledger puts) on tables of 100 and 5,000 items, with
// moto patched and unpatched: unpatched, moto copies the table once per
// action.
//
//	go test -run '^$' -bench BenchmarkTransactWriteTableSize -benchtime 200x ./local/moto/
func BenchmarkTransactWriteTableSize(b *testing.B) {
	for _, mode := range []string{"patched", "unpatched"} {
		var env []string
		if mode == "unpatched" {
			env = []string{"SPILLWAY_MOTO_UNPATCHED=1"}
		}
		srv := startMotoWith(b, env...)
		c := ddbClient(srv.URL())
		for _, size := range []int{100, 5000} {
			ctx := context.Background()
			name := fmt.Sprintf("t%d", size)
			txTable(b, ctx, c, name, size)
			run := 0 // b.Run calls the function more than once: new keys each time
			b.Run(fmt.Sprintf("%s/items=%d", mode, size), func(b *testing.B) {
				run++
				for i := 0; i < b.N; i++ {
					items := make([]types.TransactWriteItem, 10)
					for j := range items {
						items[j] = types.TransactWriteItem{Put: &types.Put{TableName: aws.String(name), Item: key(fmt.Sprintf("n%d-%d-%d", run, i, j)),
							ConditionExpression: aws.String("attribute_not_exists(pk)")}}
					}
					if _, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
