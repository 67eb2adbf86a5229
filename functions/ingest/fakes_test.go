package ingest

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/spillwayhq/spillway/shared/kinesisput"
)

// fakeKinesis records accepted entries. fail, when set, may fail a call
// (error) or individual entries (error codes by index).
type fakeKinesis struct {
	mu       sync.Mutex
	calls    int
	accepted []types.PutRecordsRequestEntry
	fail     func(call int, in *kinesis.PutRecordsInput) (codes map[int]string, err error)
}

var _ kinesisput.PutRecordsAPI = (*fakeKinesis)(nil)

func (f *fakeKinesis) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var codes map[int]string
	if f.fail != nil {
		var err error
		codes, err = f.fail(f.calls, in)
		if err != nil {
			return nil, err
		}
	}
	out := &kinesis.PutRecordsOutput{}
	failed := int32(0)
	for i, e := range in.Records {
		if c, ok := codes[i]; ok {
			out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: &c, ErrorMessage: strPtr("injected")})
			failed++
			continue
		}
		f.accepted = append(f.accepted, e)
		out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: strPtr(strconv.Itoa(len(f.accepted))), ShardId: strPtr("shardId-000000000000")})
	}
	out.FailedRecordCount = &failed
	return out, nil
}

func (f *fakeKinesis) entries() []types.PutRecordsRequestEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]types.PutRecordsRequestEntry(nil), f.accepted...)
}

func strPtr(s string) *string { return &s }

type item = map[string]ddbtypes.AttributeValue

// fakeDynamo is an in-memory DynamoDB for the calls ingest makes: items are
// keyed by key_hash (apikeys) or db+table (catalog).
type fakeDynamo struct {
	mu       sync.Mutex
	tables   map[string]map[string]item
	pageSize int   // Scan/Query page size (0 = all)
	err      error // returned by every call when set
}

var _ DynamoAPI = (*fakeDynamo)(nil)

func newFakeDynamo() *fakeDynamo { return &fakeDynamo{tables: map[string]map[string]item{}} }

func keyOf(it item) string {
	if v, ok := it["key_hash"].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	db, _ := it["db"].(*ddbtypes.AttributeValueMemberS)
	tb, _ := it["table"].(*ddbtypes.AttributeValueMemberS)
	if db == nil || tb == nil {
		return ""
	}
	return db.Value + "\x00" + tb.Value
}

func (f *fakeDynamo) put(table string, it item) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tables[table] == nil {
		f.tables[table] = map[string]item{}
	}
	f.tables[table][keyOf(it)] = it
}

func (f *fakeDynamo) get(table string, key item) item {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tables[table][keyOf(key)]
}

func (f *fakeDynamo) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &dynamodb.GetItemOutput{Item: f.get(*in.TableName, in.Key)}, nil
}

func (f *fakeDynamo) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	if in.ConditionExpression != nil && strings.HasPrefix(*in.ConditionExpression, "attribute_not_exists") && f.get(*in.TableName, in.Item) != nil {
		return nil, &ddbtypes.ConditionalCheckFailedException{Message: strPtr("exists")}
	}
	f.put(*in.TableName, in.Item)
	return &dynamodb.PutItemOutput{}, nil
}

// UpdateItem supports "SET a = :v" only.
func (f *fakeDynamo) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	it := f.get(*in.TableName, in.Key)
	if it == nil {
		return nil, &ddbtypes.ConditionalCheckFailedException{Message: strPtr("missing")}
	}
	attr, val, ok := strings.Cut(strings.TrimPrefix(*in.UpdateExpression, "SET "), " = ")
	if !ok {
		return nil, errors.New("fake: unsupported update expression")
	}
	f.mu.Lock()
	it[attr] = in.ExpressionAttributeValues[val]
	f.mu.Unlock()
	return &dynamodb.UpdateItemOutput{}, nil
}

func (f *fakeDynamo) page(items []item, start item) ([]item, item) {
	sort.Slice(items, func(i, j int) bool { return keyOf(items[i]) < keyOf(items[j]) })
	from := 0
	if start != nil {
		for i, it := range items {
			if keyOf(it) == keyOf(start) {
				from = i + 1
			}
		}
	}
	items = items[from:]
	if f.pageSize > 0 && len(items) > f.pageSize {
		return items[:f.pageSize], items[f.pageSize-1]
	}
	return items, nil
}

func (f *fakeDynamo) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.mu.Lock()
	var all []item
	for _, it := range f.tables[*in.TableName] {
		all = append(all, it)
	}
	f.mu.Unlock()
	items, last := f.page(all, in.ExclusiveStartKey)
	return &dynamodb.ScanOutput{Items: items, LastEvaluatedKey: last}, nil
}

// Query supports "db = :db", optionally with "table BETWEEN :lo AND :hi".
func (f *fakeDynamo) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	want := in.ExpressionAttributeValues[":db"].(*ddbtypes.AttributeValueMemberS).Value
	f.mu.Lock()
	var all []item
	for _, it := range f.tables[*in.TableName] {
		if it["db"].(*ddbtypes.AttributeValueMemberS).Value != want {
			continue
		}
		if lo, ok := in.ExpressionAttributeValues[":lo"].(*ddbtypes.AttributeValueMemberS); ok {
			hi := in.ExpressionAttributeValues[":hi"].(*ddbtypes.AttributeValueMemberS)
			if t := it["table"].(*ddbtypes.AttributeValueMemberS).Value; t < lo.Value || t > hi.Value {
				continue
			}
		}
		all = append(all, it)
	}
	f.mu.Unlock()
	items, last := f.page(all, in.ExclusiveStartKey)
	return &dynamodb.QueryOutput{Items: items, LastEvaluatedKey: last}, nil
}

// fakeLambda records invocations.
type fakeLambda struct {
	mu    sync.Mutex
	calls []*lambda.InvokeInput
	err   error
}

var _ InvokeAPI = (*fakeLambda)(nil)

func (f *fakeLambda) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.calls = append(f.calls, in)
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}
