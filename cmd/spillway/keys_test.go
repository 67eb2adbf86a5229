package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/functions/ingest/apikeys"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/mototest"
)

func TestKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := mototest.Start(t)
	cfg, err := cloud.AWSConfig(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	mototest.CreateTable(t, ctx, db, "keys", "key_hash")
	runOK := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runKeys(ctx, args, &out, db); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	out := runOK("-table", "keys", "create", "-name", "ci", "-db", "web_logs,app_logs", "-read=false")
	m := regexp.MustCompile(`key:  (\S+)\nhash: ([0-9a-f]{64})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("create output %q", out)
	}
	if m[2] != apikeys.Hash(m[1]) {
		t.Fatal("printed hash is not the key's hash")
	}
	scan, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("keys")})
	if err != nil || len(scan.Items) != 1 {
		t.Fatalf("scan %v", err)
	}
	for name, v := range scan.Items[0] {
		if s, ok := v.(*types.AttributeValueMemberS); ok && s.Value == m[1] {
			t.Fatalf("clear key stored in attribute %s", name)
		}
	}
	list := runOK("-table", "keys", "list")
	if !strings.Contains(list, m[2][:16]) || !strings.Contains(list, "app_logs,web_logs") {
		t.Fatalf("list %q", list)
	}
	if out := runOK("-table", "keys", "revoke", m[2][:12]); !strings.Contains(out, m[2]) {
		t.Fatalf("revoke %q", out)
	}
	// Columns READ WRITE FLUSH REVOKED: -flush is off unless asked for.
	if list := runOK("-table", "keys", "list"); !regexp.MustCompile(`false\s+true\s+false\s+true`).MatchString(list) {
		t.Fatalf("revoked key not shown as revoked and unable to flush: %q", list)
	}
	runOK("-table", "keys", "create", "-name", "ops", "-db", "web_logs", "-flush")
	if list := runOK("-table", "keys", "list"); !regexp.MustCompile(`ops\s+web_logs\s+true\s+true\s+true\s+false`).MatchString(list) {
		t.Fatalf("-flush key not listed with FLUSH true: %q", list)
	}
	for _, bad := range [][]string{{"list"}, {"-table", "keys"}, {"-table", "keys", "nope"}, {"-table", "keys", "create", "-name", "x"}, {"-table", "keys", "revoke"}} {
		if err := runKeys(ctx, bad, &bytes.Buffer{}, db); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
}
