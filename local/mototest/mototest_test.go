package mototest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/local/mototest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := mototest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "close moto:", err)
		code = 1
	}
	os.Exit(code)
}

func TestSharedIsOneServer(t *testing.T) {
	a, b := mototest.Shared(t), mototest.Shared(t)
	if a != b || a.URL() == "" {
		t.Fatalf("Shared returned %p (%s) then %p, want one running server", a, a.URL(), b)
	}
}

func TestCreateTable(t *testing.T) {
	srv := mototest.Shared(t)
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tests := []struct {
		name string
		keys []string
		want []string // "attr:HASH", "attr:RANGE"
	}{
		{name: "hash", keys: []string{"id"}, want: []string{"id:HASH"}},
		{name: "hash and range", keys: []string{"pk", "sk"}, want: []string{"pk:HASH", "sk:RANGE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table := "t_" + tc.keys[0]
			mototest.CreateTable(t, ctx, db, table, tc.keys...)
			out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range out.Table.KeySchema {
				got = append(got, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("key schema %v, want %v", got, tc.want)
			}
			for _, a := range out.Table.AttributeDefinitions {
				if a.AttributeType != types.ScalarAttributeTypeS {
					t.Errorf("attribute %s has type %s, want S", aws.ToString(a.AttributeName), a.AttributeType)
				}
			}
			if out.Table.BillingModeSummary == nil || out.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
				t.Errorf("billing mode %+v, want pay per request", out.Table.BillingModeSummary)
			}
		})
	}
}

func TestStartClosesOnCleanup(t *testing.T) {
	var pid int
	t.Run("owner", func(t *testing.T) {
		pid = mototest.Start(t).PID()
	})
	// Close waited for the process, so it is reaped: signal 0 must fail.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("moto %d still running after its test ended", pid)
	}
}
