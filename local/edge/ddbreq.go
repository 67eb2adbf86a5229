package edge

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
)

// ddbWriteOps are the DynamoDB operations the edge inspects for limits and
// transaction conflicts before it forwards them, one at a time, to moto.
var ddbWriteOps = map[string]bool{
	"PutItem": true, "UpdateItem": true, "DeleteItem": true,
	"BatchWriteItem": true, "TransactWriteItems": true,
}

// ddbAction is one item a write request addresses: a single-item write, a
// BatchWriteItem request or a TransactWriteItems action.
type ddbAction struct {
	table string
	// put is the full item of a put; nil for actions that name a key.
	put item
	// key is the key of an update, delete or condition check.
	key item
	// values are an update's ExpressionAttributeValues (counted in a
	// transaction's aggregate size).
	values item
}

// ddbWrite is a parsed DynamoDB write request.
type ddbWrite struct {
	op      string
	actions []ddbAction
}

type ddbKeyed struct {
	TableName                 string
	Item                      item
	Key                       item
	ExpressionAttributeValues item
}

// parseDDBWrite decodes the parts of a write request the edge checks;
// unknown fields are ignored.
func parseDDBWrite(op string, body []byte) (ddbWrite, error) {
	w := ddbWrite{op: op}
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem":
		var k ddbKeyed
		if err := json.Unmarshal(body, &k); err != nil {
			return w, fmt.Errorf("decode %s: %w", op, err)
		}
		w.actions = []ddbAction{{table: k.TableName, put: k.Item, key: k.Key, values: k.ExpressionAttributeValues}}
		if op == "PutItem" && k.Item == nil {
			w.actions[0].put = item{}
		}
	case "BatchWriteItem":
		var b struct {
			RequestItems map[string][]struct {
				PutRequest    *struct{ Item item }
				DeleteRequest *struct{ Key item }
			}
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return w, fmt.Errorf("decode %s: %w", op, err)
		}
		for table, reqs := range b.RequestItems {
			for _, r := range reqs {
				switch {
				case r.PutRequest != nil:
					w.actions = append(w.actions, ddbAction{table: table, put: orEmpty(r.PutRequest.Item)})
				case r.DeleteRequest != nil:
					w.actions = append(w.actions, ddbAction{table: table, key: r.DeleteRequest.Key})
				}
			}
		}
	case "TransactWriteItems":
		var t struct {
			TransactItems []struct {
				Put, Update, Delete, ConditionCheck *ddbKeyed
			}
		}
		if err := json.Unmarshal(body, &t); err != nil {
			return w, fmt.Errorf("decode %s: %w", op, err)
		}
		for _, a := range t.TransactItems {
			switch {
			case a.Put != nil:
				w.actions = append(w.actions, ddbAction{table: a.Put.TableName, put: orEmpty(a.Put.Item)})
			case a.Update != nil:
				w.actions = append(w.actions, ddbAction{table: a.Update.TableName, key: a.Update.Key, values: a.Update.ExpressionAttributeValues})
			case a.Delete != nil:
				w.actions = append(w.actions, ddbAction{table: a.Delete.TableName, key: a.Delete.Key})
			case a.ConditionCheck != nil:
				w.actions = append(w.actions, ddbAction{table: a.ConditionCheck.TableName, key: a.ConditionCheck.Key})
			default:
				w.actions = append(w.actions, ddbAction{})
			}
		}
	default:
		return w, fmt.Errorf("%s is not a DynamoDB write the edge inspects", op)
	}
	return w, nil
}

func orEmpty(it item) item {
	if it == nil {
		return item{}
	}
	return it
}

// ddbError answers a DynamoDB JSON-protocol error with AWS's __type, a
// message and, for TransactionCanceledException, the cancellation reasons.
func ddbError(w http.ResponseWriter, typ, msg string, reasons []cancellationReason) {
	body := map[string]any{"__type": typ, "message": msg}
	if reasons != nil {
		body["Message"] = msg
		delete(body, "message")
		body["CancellationReasons"] = reasons
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-RequestId", requestID())
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(b)
}

// DynamoDB error types as AWS writes them in __type.
const (
	ddbValidation          = "com.amazon.coral.validate#ValidationException"
	ddbTransactionCanceled = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
	ddbTransactionConflict = "com.amazonaws.dynamodb.v20120810#TransactionConflictException"
)

// cancellationReason is one entry of TransactionCanceledException's
// CancellationReasons, in the order of the request's TransactItems.
type cancellationReason struct {
	Code    string `json:"Code"`
	Message string `json:"Message,omitempty"`
}

// cancelled answers TransactionCanceledException with reasons (Code "None"
// where reasons has no entry).
func cancelled(w http.ResponseWriter, n int, reasons map[int]cancellationReason) {
	list := make([]cancellationReason, n)
	codes := make([]string, n)
	for i := range list {
		r, ok := reasons[i]
		if !ok {
			r = cancellationReason{Code: "None"}
		}
		list[i] = r
		codes[i] = r.Code
	}
	ddbError(w, ddbTransactionCanceled,
		"Transaction cancelled, please refer cancellation reasons for specific reasons ["+strings.Join(codes, ", ")+"]", list)
}
