package edge

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

func TestItemSize(t *testing.T) {
	tests := []struct {
		name string
		item string
		want int
	}{
		{"string", `{"ab":{"S":"héllo"}}`, 2 + 6},
		{"number digits", `{"n":{"N":"12345"}}`, 1 + 3 + 1},
		{"number zeroes trimmed", `{"n":{"N":"-0012.3400"}}`, 1 + 2 + 1},
		{"number exponent", `{"n":{"N":"1.5E+10"}}`, 1 + 1 + 1},
		{"zero", `{"n":{"N":"0"}}`, 1 + 1},
		{"binary raw bytes", `{"b":{"B":"AAECAw=="}}`, 1 + 4},
		{"bool and null", `{"t":{"BOOL":true},"z":{"NULL":true}}`, 1 + 1 + 1 + 1},
		{"string set", `{"s":{"SS":["a","bc"]}}`, 1 + 3},
		{"empty list", `{"l":{"L":[]}}`, 1 + 3},
		{"list", `{"l":{"L":[{"S":"ab"},{"N":"7"}]}}`, 1 + 3 + (1 + 2) + (1 + 2)},
		{"map", `{"m":{"M":{"k":{"S":"v"},"kk":{"BOOL":false}}}}`, 1 + 3 + (1 + 1 + 1) + (1 + 2 + 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var it item
			if err := json.Unmarshal([]byte(tt.item), &it); err != nil {
				t.Fatal(err)
			}
			got, err := itemSize(it)
			if err != nil || got != tt.want {
				t.Fatalf("itemSize(%s) = %d, %v; want %d", tt.item, got, err, tt.want)
			}
		})
	}
}

func createTableHashRange(t testing.TB, dc *dynamodb.Client) string {
	t.Helper()
	name := uniqueName(t, "tblhr")
	_, err := dc.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange}},
		BillingMode: ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	return name
}

// sizedItem is an item of exactly size bytes by AWS's rules. Its 20,000
// element list costs 3 + 2 bytes per element on AWS but 1 byte per element
// in moto's accounting, so moto alone accepts items the edge must refuse.
func sizedItem(id, sk string, size int) map[string]ddbtypes.AttributeValue {
	const n = 20000
	l := make([]ddbtypes.AttributeValue, n)
	for i := range l {
		l[i] = sv("x")
	}
	base := len("id") + len(id) + len("sk") + len(sk) + len("l") + 3 + 2*n + len("p")
	return map[string]ddbtypes.AttributeValue{"id": sv(id), "sk": sv(sk), "l": &ddbtypes.AttributeValueMemberL{Value: l},
		"p": sv(strings.Repeat("p", size-base))}
}

func validationMessage(err error) (code, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

func TestDynamoDBLimits(t *testing.T) {
	ctx := context.Background()
	e := startEdge(t, Config{})
	dc := dynamodb.NewFromConfig(awsConfig(t, e.URL()))
	// Each case gets its own table: moto deep-copies every table a
	// transaction touches, once per action.
	var table string
	key := func(id, sk string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"id": sv(id), "sk": sv(sk)}
	}
	put := func(it map[string]ddbtypes.AttributeValue) func() error {
		return func() error {
			_, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it})
			return err
		}
	}
	transact := func(items ...map[string]ddbtypes.AttributeValue) func() error {
		return func() error {
			var acts []ddbtypes.TransactWriteItem
			for _, it := range items {
				acts = append(acts, ddbtypes.TransactWriteItem{Put: &ddbtypes.Put{TableName: aws.String(table), Item: it}})
			}
			_, err := dc.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: acts})
			return err
		}
	}
	var many []map[string]ddbtypes.AttributeValue
	for i := 0; i <= DynamoDBMaxTransactionActions; i++ {
		many = append(many, key("many", strconv.Itoa(i)))
	}
	var big []map[string]ddbtypes.AttributeValue
	for i := 0; i < 11; i++ { // 11 x 390,000 bytes > 4 MB, each under 400 KB
		big = append(big, map[string]ddbtypes.AttributeValue{"id": sv("big"), "sk": sv(strconv.Itoa(i)), "p": sv(strings.Repeat("b", 390000))})
	}
	tests := []struct {
		name    string
		call    func() error
		code    string
		msg     string
		reasons []string
		// mototoo: moto enforces this limit as well (with its own message),
		// so the call fails with the limits off too.
		mototoo bool
	}{
		{"item of exactly 400 KB", put(sizedItem("k", "exact", DynamoDBMaxItemBytes)), "", "", nil, false},
		{"item one byte over 400 KB", put(sizedItem("k", "over", DynamoDBMaxItemBytes+1)), "ValidationException", "Item size has exceeded the maximum allowed size", nil, false},
		{"partition key of 2048 bytes", put(key(strings.Repeat("h", 2048), "s")), "", "", nil, false},
		{"partition key of 2049 bytes", put(key(strings.Repeat("h", 2049), "s")), "ValidationException",
			"One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes", nil, true},
		{"sort key of 1024 bytes", put(key("k", strings.Repeat("r", 1024))), "", "", nil, false},
		{"sort key of 1025 bytes", put(key("k", strings.Repeat("r", 1025))), "ValidationException",
			"One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes", nil, true},
		{"UpdateItem with a long partition key", func() error {
			_, err := dc.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key(strings.Repeat("h", 2049), "s"),
				UpdateExpression: aws.String("SET v = :v"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":v": sv("x")}})
			return err
		}, "ValidationException", "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes", nil, true},
		{"BatchWriteItem with an item over 400 KB", func() error {
			_, err := dc.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{table: {
				{PutRequest: &ddbtypes.PutRequest{Item: key("b", "1")}},
				{PutRequest: &ddbtypes.PutRequest{Item: sizedItem("b", "2", DynamoDBMaxItemBytes+1)}}}}})
			return err
		}, "ValidationException", "Item size has exceeded the maximum allowed size", nil, false},
		{"transaction of 100 actions", transact(many[:100]...), "", "", nil, false},
		{"transaction of 101 actions", transact(many...), "ValidationException",
			"1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100", nil, true},
		{"transaction over 4 MB", transact(big...), "ValidationException", "Transaction request cannot be larger than 4 MB", nil, false},
		{"transaction of 10 items under 4 MB", transact(big[:10]...), "", "", nil, false},
		{"transaction with an item over 400 KB", transact(key("t", "1"), sizedItem("t", "2", DynamoDBMaxItemBytes+1)), "TransactionCanceledException",
			"", []string{"None", "ValidationError"}, false},
	}
	for _, limits := range []bool{true, false} {
		if !limits {
			if err := e.SetAWSBehaviours(AWSBehaviours{NoDynamoDBLimits: true}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range tests {
			t.Run(tt.name+map[bool]string{true: "", false: " (NoDynamoDBLimits)"}[limits], func(t *testing.T) {
				table = createTableHashRange(t, dc)
				err := tt.call()
				code, msg := validationMessage(err)
				if !limits {
					if tt.code != "" && !tt.mototoo && err == nil {
						return // moto alone accepts it: the limit is the edge's
					}
					if tt.code == "" && err != nil {
						t.Fatalf("error %v, want success", err)
					}
					if tt.code != "" && !tt.mototoo {
						t.Fatalf("moto refused it too (%v): the test does not show the edge's limit", err)
					}
					return
				}
				if code != tt.code {
					t.Fatalf("error %v (code %q), want %q", err, code, tt.code)
				}
				if tt.msg != "" && msg != tt.msg {
					t.Fatalf("message %q, want %q", msg, tt.msg)
				}
				if tt.reasons != nil {
					if got := cancellationCodes(err); strings.Join(got, ",") != strings.Join(tt.reasons, ",") {
						t.Fatalf("cancellation reasons %v, want %v", got, tt.reasons)
					}
				}
			})
		}
	}
}
