package edge

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func sv(s string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: s} }

func putAction(table, id string) ddbtypes.TransactWriteItem {
	return ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv(id)}}}
}

func updateAction(table, id string) ddbtypes.TransactWriteItem {
	return ddbtypes.TransactWriteItem{Update: &ddbtypes.Update{TableName: aws.String(table),
		Key: map[string]ddbtypes.AttributeValue{"id": sv(id)}, UpdateExpression: aws.String("SET n = :one"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": &ddbtypes.AttributeValueMemberN{Value: "1"}}}}
}

// holdFirstTransaction makes the edge hold the first TransactWriteItems in
// flight (its items held, not yet forwarded) until release is called.
func holdFirstTransaction(t *testing.T, e *Server) (held <-chan struct{}, release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := func(op string) {
		if op != "TransactWriteItems" {
			return
		}
		first := false
		once.Do(func() { first = true })
		if first {
			close(entered)
			<-gate
		}
	}
	e.inFlight.Store(&hook)
	var releaseOnce sync.Once
	release = func() { releaseOnce.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return entered, release
}

func cancellationCodes(err error) []string {
	var tce *ddbtypes.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
	}
	return codes
}

func getItem(t *testing.T, dc *dynamodb.Client, table, id string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := dc.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"id": sv(id)}})
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return out.Item
}

func TestTransactionConflict(t *testing.T) {
	ctx := context.Background()
	for _, conflicts := range []bool{true, false} {
		name := "conflicts on (AWS)"
		if !conflicts {
			name = "NoTransactionConflicts"
		}
		t.Run(name, func(t *testing.T) {
			e := startEdge(t, Config{AWS: AWSBehaviours{NoTransactionConflicts: !conflicts}})
			dc := dynamodb.NewFromConfig(awsConfig(t, e.URL()))
			table := createTable(t, dc)
			if _, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("b")}}); err != nil {
				t.Fatal(err)
			}
			held, release := holdFirstTransaction(t, e)
			first := make(chan error, 1)
			go func() {
				_, err := dc.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
					putAction(table, "a"), updateAction(table, "b")}})
				first <- err
			}()
			<-held
			// While the first transaction holds a and b:
			tests := []struct {
				name      string
				call      func() error
				code      string   // error code with conflicts on; "" = success
				reasons   []string // cancellation reasons with conflicts on
				noneWrite string   // an item that must not exist afterwards when cancelled
			}{
				{"transaction touching a held item", func() error {
					_, err := dc.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
						putAction(table, "c"), updateAction(table, "a"), putAction(table, "d")}})
					return err
				}, "TransactionCanceledException", []string{"None", "TransactionConflict", "None"}, "c"},
				{"transaction touching both held items", func() error {
					_, err := dc.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
						updateAction(table, "b"), putAction(table, "e"), putAction(table, "a")}})
					return err
				}, "TransactionCanceledException", []string{"TransactionConflict", "None", "TransactionConflict"}, "e"},
				{"PutItem on a held item", func() error {
					_, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("a"), "by": sv("put")}})
					return err
				}, "TransactionConflictException", nil, ""},
				{"UpdateItem on a held item", func() error {
					_, err := dc.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"id": sv("b")},
						UpdateExpression: aws.String("SET m = :v"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": sv("x")}})
					return err
				}, "TransactionConflictException", nil, ""},
				{"DeleteItem on a held item", func() error {
					_, err := dc.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"id": sv("b")}})
					return err
				}, "TransactionConflictException", nil, ""},
				{"PutItem on another item", func() error {
					_, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("f")}})
					return err
				}, "", nil, ""},
				{"transaction on other items", func() error {
					_, err := dc.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
						putAction(table, "g"), putAction(table, "h")}})
					return err
				}, "", nil, ""},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					err := tt.call()
					want := tt.code
					if !conflicts {
						want = ""
					}
					if got := apiCode(err); got != want {
						t.Fatalf("error %v (code %q), want code %q", err, got, want)
					}
					if want == "TransactionCanceledException" {
						if got := cancellationCodes(err); strings.Join(got, ",") != strings.Join(tt.reasons, ",") {
							t.Fatalf("cancellation reasons %v, want %v", got, tt.reasons)
						}
						var tce *ddbtypes.TransactionCanceledException
						errors.As(err, &tce)
						for i, r := range tce.CancellationReasons {
							if aws.ToString(r.Code) == "TransactionConflict" && aws.ToString(r.Message) != "Transaction is ongoing for the item" {
								t.Fatalf("reason %d message %q", i, aws.ToString(r.Message))
							}
						}
						if getItem(t, dc, table, tt.noneWrite) != nil {
							t.Fatalf("cancelled transaction wrote %s", tt.noneWrite)
						}
					}
				})
			}
			release()
			if err := <-first; err != nil {
				t.Fatalf("held transaction: %v", err)
			}
			if getItem(t, dc, table, "a") == nil {
				t.Fatal("held transaction's put of a is missing")
			}
			// Once it is done, the same items are free again.
			if _, err := dc.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
				updateAction(table, "a"), updateAction(table, "b")}}); err != nil {
				t.Fatalf("transaction after release: %v", err)
			}
			_, counters := e.Faults()
			if conflicts && (counters["dynamodb.TransactWriteItems.TransactionConflict"] != 2 || counters["dynamodb.PutItem.TransactionConflictException"] != 1) {
				t.Fatalf("counters = %v", counters)
			}
		})
	}
}

func TestConditionalCheckFailedReturnsOldItem(t *testing.T) {
	// moto already returns the item for ReturnValuesOnConditionCheckFailure
	// ALL_OLD; the edge passes it through untouched.
	ctx := context.Background()
	e := startEdge(t, Config{})
	dc := dynamodb.NewFromConfig(awsConfig(t, e.URL()))
	table := createTable(t, dc)
	old := map[string]ddbtypes.AttributeValue{"id": sv("x"), "v": sv("old")}
	if _, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: old}); err != nil {
		t.Fatal(err)
	}
	cond := aws.String("attribute_not_exists(id)")
	t.Run("PutItem", func(t *testing.T) {
		_, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("x"), "v": sv("new")},
			ConditionExpression: cond, ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld})
		var ccf *ddbtypes.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			t.Fatalf("error %v, want ConditionalCheckFailedException", err)
		}
		if v, ok := ccf.Item["v"].(*ddbtypes.AttributeValueMemberS); !ok || v.Value != "old" {
			t.Fatalf("item %v, want the old item", ccf.Item)
		}
	})
	t.Run("TransactWriteItems", func(t *testing.T) {
		_, err := dc.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{
			putAction(table, "y"),
			{Put: &ddbtypes.Put{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("x")}, ConditionExpression: cond,
				ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld}}}})
		var tce *ddbtypes.TransactionCanceledException
		if !errors.As(err, &tce) || len(tce.CancellationReasons) != 2 {
			t.Fatalf("error %v, want TransactionCanceledException with 2 reasons", err)
		}
		r := tce.CancellationReasons[1]
		if aws.ToString(r.Code) != "ConditionalCheckFailed" || aws.ToString(tce.CancellationReasons[0].Code) != "None" {
			t.Fatalf("reasons %+v", tce.CancellationReasons)
		}
		if v, ok := r.Item["v"].(*ddbtypes.AttributeValueMemberS); !ok || v.Value != "old" {
			t.Fatalf("reason item %v, want the old item", r.Item)
		}
	})
}

func TestLatencyFaultHoldsItems(t *testing.T) {
	// A latency fault on a transaction (no error) is spent while it holds its
	// items, like a slow transaction on AWS: writes to them conflict.
	ctx := context.Background()
	e := startEdge(t, Config{})
	dc := dynamodb.NewFromConfig(awsConfig(t, e.URL()))
	table := createTable(t, dc)
	if err := e.SetFaults(FaultConfig{Rules: []FaultRule{{Service: "dynamodb", Operation: "TransactWriteItems", Next: 1, Latency: Duration(time.Hour)}}}); err != nil {
		t.Fatal(err)
	}
	slowCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := dc.TransactWriteItems(slowCtx, &dynamodb.TransactWriteItemsInput{TransactItems: []ddbtypes.TransactWriteItem{putAction(table, "slow")}})
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !e.holds.isHeld(itemID("us-east-1", table, item{"id": attrValue{"S": json.RawMessage(`"slow"`)}})) {
		if time.Now().After(deadline) {
			t.Fatal("the slow transaction never held its item")
		}
		pollPause()
	}
	_, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("slow")}})
	if got := apiCode(err); got != "TransactionConflictException" {
		t.Fatalf("PutItem during the slow transaction: %v, want TransactionConflictException", err)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled transaction succeeded")
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{"id": sv("slow")}})
		if err == nil {
			break
		}
		if apiCode(err) != "TransactionConflictException" || time.Now().After(deadline) {
			t.Fatalf("PutItem after the slow transaction was cancelled: %v", err)
		}
		pollPause()
	}
}
