package apikeys_test

import (
	"bytes"
	"context"
	"errors"
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

// newStore returns a Store on a fresh apikeys table in a real moto server.
func newStore(t testing.TB) *apikeys.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := mototest.Start(t)
	cfg, err := cloud.AWSConfig(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	mototest.CreateTable(t, ctx, db, "keys", "key_hash")
	return &apikeys.Store{DB: db, Table: "keys", Now: func() time.Time { return time.Unix(1700000000, 0) }}
}

func TestSpecValidate(t *testing.T) {
	tests := []struct {
		name string
		spec apikeys.NewSpec
		want []string // substrings of the error; nil = valid
	}{
		{"valid", apikeys.NewSpec{Name: "ci", Databases: []string{"db_one"}, CanWrite: true}, nil},
		{"all databases", apikeys.NewSpec{Name: "ops", Databases: []string{"*"}, CanRead: true}, nil},
		{"everything wrong", apikeys.NewSpec{Databases: []string{"Bad-Name"}}, []string{"name:", "databases:", "permissions:"}},
		{"no databases", apikeys.NewSpec{Name: "x", CanRead: true}, []string{"databases:"}},
		{"flush only", apikeys.NewSpec{Name: "cron", Databases: []string{"db_one"}, CanFlush: true}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid spec accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestAllows(t *testing.T) {
	k := apikeys.Key{Databases: []string{"a_db", "b_db"}}
	all := apikeys.Key{Databases: []string{apikeys.AllDatabases}}
	if !k.Allows("a_db") || k.Allows("c_db") || !all.Allows("anything") {
		t.Fatal("scope check wrong")
	}
}

func TestStoreLifecycle(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	s.Rand = bytes.NewReader(bytes.Repeat([]byte{7}, 24))
	clear, k, err := s.Create(ctx, apikeys.NewSpec{Name: "ci", Databases: []string{"b_db", "a_db", "a_db"}, CanWrite: true, CanRead: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(clear, apikeys.KeyPrefix) || k.Hash != apikeys.Hash(clear) || strings.Join(k.Databases, ",") != "a_db,b_db" {
		t.Fatalf("key %q %+v", clear, k)
	}
	got, err := s.Lookup(ctx, clear)
	if err != nil || got.Name != "ci" || !got.CanWrite || got.Revoked || got.CreatedAt.Unix() != 1700000000 {
		t.Fatalf("lookup %+v %v", got, err)
	}
	if _, err := s.Lookup(ctx, "nope"); !errors.Is(err, apikeys.ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
	// The same random bytes give the same key: the conditional put refuses it.
	s.Rand = bytes.NewReader(bytes.Repeat([]byte{7}, 24))
	if _, _, err := s.Create(ctx, apikeys.NewSpec{Name: "dup", Databases: []string{"*"}, CanRead: true}); err == nil {
		t.Fatal("duplicate hash stored twice")
	}
	s.Rand = nil
	if _, _, err := s.Create(ctx, apikeys.NewSpec{Name: "ops", Databases: []string{"*", "x_db"}, CanRead: true}); err != nil {
		t.Fatal(err)
	}
	keys, err := s.List(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("list %+v %v", keys, err)
	}
	for _, kk := range keys {
		if kk.Name == "ops" && strings.Join(kk.Databases, ",") != "*" {
			t.Fatalf("\"*\" must replace other databases: %v", kk.Databases)
		}
	}
	if _, err := s.Revoke(ctx, "abc"); err == nil {
		t.Fatal("short prefix accepted")
	}
	if _, err := s.Revoke(ctx, "zzzzzzzzzz"); !errors.Is(err, apikeys.ErrNotFound) {
		t.Fatalf("unknown prefix: %v", err)
	}
	h, err := s.Revoke(ctx, strings.ToUpper(k.Hash[:10]))
	if err != nil || h != k.Hash {
		t.Fatalf("revoke %s %v", h, err)
	}
	got, err = s.Lookup(ctx, clear)
	if err != nil || !got.Revoked {
		t.Fatalf("after revoke %+v %v", got, err)
	}
}

// TestFlushPermissionStorage checks that can_flush round-trips and that keys
// stored before the permission existed (no can_flush attribute) cannot flush.
func TestFlushPermissionStorage(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	legacy := map[string]types.AttributeValue{
		"key_hash":  &types.AttributeValueMemberS{Value: apikeys.Hash("legacy")},
		"name":      &types.AttributeValueMemberS{Value: "old"},
		"databases": &types.AttributeValueMemberSS{Value: []string{"*"}},
		"can_write": &types.AttributeValueMemberBOOL{Value: true},
		"can_read":  &types.AttributeValueMemberBOOL{Value: true},
	}
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: legacy}); err != nil {
		t.Fatal(err)
	}
	withFlush, _, err := s.Create(ctx, apikeys.NewSpec{Name: "ops", Databases: []string{"a_db"}, CanWrite: true, CanFlush: true})
	if err != nil {
		t.Fatal(err)
	}
	without, _, err := s.Create(ctx, apikeys.NewSpec{Name: "ci", Databases: []string{"a_db"}, CanWrite: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		clear     string
		wantFlush bool
		wantWrite bool
	}{
		{name: "stored before can_flush existed", clear: "legacy", wantFlush: false, wantWrite: true},
		{name: "created with flush", clear: withFlush, wantFlush: true, wantWrite: true},
		{name: "created without flush", clear: without, wantFlush: false, wantWrite: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := s.Lookup(ctx, tc.clear)
			if err != nil {
				t.Fatal(err)
			}
			if k.CanFlush != tc.wantFlush || k.CanWrite != tc.wantWrite {
				t.Fatalf("CanFlush %t CanWrite %t, want %t %t", k.CanFlush, k.CanWrite, tc.wantFlush, tc.wantWrite)
			}
		})
	}
}
