// Package mototest owns the moto helpers that tests outside local/ share:
// a moto server per test or per test binary, and DynamoDB tables made from
// their key schema. It is test support: import it from _test files only.
package mototest

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/local/moto"
)

// Start starts a moto server for tb alone and closes it when tb ends.
func Start(tb testing.TB) *moto.Server {
	tb.Helper()
	srv, err := moto.Start(context.Background(), moto.Options{})
	if err != nil {
		tb.Fatalf("start moto: %v", err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	return srv
}

// The test binary's shared server, started by the first Shared call.
var (
	sharedMu  sync.Mutex
	sharedSrv *moto.Server
)

// Shared returns the test binary's moto server, starting it on first use
// (tests that never call it, such as fuzzing, start nothing). Tests that
// share it keep apart by using their own bucket and table names. Stop it
// with CloseShared from TestMain.
func Shared(tb testing.TB) *moto.Server {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedSrv == nil {
		srv, err := moto.Start(context.Background(), moto.Options{})
		if err != nil {
			tb.Fatalf("start moto: %v", err)
		}
		sharedSrv = srv
	}
	return sharedSrv
}

// CloseShared stops the server Shared started, if any. Call it from
// TestMain after m.Run.
func CloseShared() error {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedSrv == nil {
		return nil
	}
	err := sharedSrv.Close()
	sharedSrv = nil
	return err
}

// createTableAPI is the part of the DynamoDB client CreateTable needs.
type createTableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
}

var _ createTableAPI = (*dynamodb.Client)(nil)

// CreateTable creates the pay-per-request table name whose keys are string
// attributes: keys[0] is the hash key and keys[1], if given, the range key.
// It fails tb on error.
func CreateTable(tb testing.TB, ctx context.Context, db createTableAPI, name string, keys ...string) {
	tb.Helper()
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest}
	for i, k := range keys {
		kt := types.KeyTypeHash
		if i == 1 {
			kt = types.KeyTypeRange
		}
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String(k), KeyType: kt})
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(k), AttributeType: types.ScalarAttributeTypeS})
	}
	if _, err := db.CreateTable(ctx, in); err != nil {
		tb.Fatalf("create table %s: %v", name, err)
	}
}
