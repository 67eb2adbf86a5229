// Package apikeys owns Spillway's API keys: how they are generated, hashed
// and stored in the DynamoDB apikeys table (HASH key_hash = lowercase hex
// SHA-256 of the key), and what a key may do. The clear key is shown once at
// creation and never stored.
package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/names"
)

// AllDatabases is the Databases value that grants every database.
const AllDatabases = "*"

// KeyPrefix starts every generated key.
const KeyPrefix = "spw_"

// Sentinel errors.
var (
	// ErrNotFound means no key has the given hash (or hash prefix).
	ErrNotFound = errors.New("api key not found")
	// ErrAmbiguous means a hash prefix matched more than one key.
	ErrAmbiguous = errors.New("api key prefix matches several keys")
)

// ReadAPI is the one DynamoDB call that authenticating a key needs (ingest
// needs no more, so its IAM role allows no more on the apikeys table).
type ReadAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// DynamoAPI is the part of the DynamoDB client the store needs.
type DynamoAPI interface {
	ReadAPI
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Only ReadAPI is checked here: infra/terraform derives each function's IAM
// actions from these checks in the packages it links, and ingest links this
// package for Get alone. cmd/spillway (spillway keys) checks DynamoAPI.
var _ ReadAPI = (*dynamodb.Client)(nil)

// Key is one stored API key (never the clear key).
type Key struct {
	Hash      string    // lowercase hex SHA-256 of the key
	Name      string    // who or what holds it
	Databases []string  // databases it may use, or [AllDatabases]
	CanWrite  bool      // may import and post
	CanRead   bool      // may list databases and tables
	CanFlush  bool      // may force POST /v1/flush for its databases (stored as can_flush; absent = false)
	CreatedAt time.Time // creation time (second precision)
	Revoked   bool      // revoked keys authenticate nothing
}

// Allows reports whether k's scope includes db.
func (k *Key) Allows(db string) bool {
	return slices.Contains(k.Databases, AllDatabases) || slices.Contains(k.Databases, db)
}

// Hash returns the lowercase hex SHA-256 of key, the stored form.
func Hash(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// Store reads and writes keys in one DynamoDB table.
type Store struct {
	DB    DynamoAPI
	Table string
	Now   func() time.Time // defaults to time.Now
	Rand  io.Reader        // defaults to crypto/rand.Reader
}

// NewSpec describes a key to create.
type NewSpec struct {
	Name      string
	Databases []string // names, or [AllDatabases]
	CanWrite  bool
	CanRead   bool
	CanFlush  bool // explicit: keys created before the permission existed cannot flush
}

// Validate checks the spec: a name, at least one database, valid names.
func (s NewSpec) Validate() error {
	var errs []error
	if strings.TrimSpace(s.Name) == "" {
		errs = append(errs, errors.New("name: must not be empty"))
	}
	if len(s.Databases) == 0 {
		errs = append(errs, errors.New("databases: need at least one database or \"*\""))
	}
	for _, db := range s.Databases {
		if db == AllDatabases {
			continue
		}
		if err := names.Validate("database", db); err != nil {
			errs = append(errs, fmt.Errorf("databases: %w", err))
		}
	}
	if !s.CanWrite && !s.CanRead && !s.CanFlush {
		errs = append(errs, errors.New("permissions: key must be able to read, write or flush"))
	}
	return errors.Join(errs...)
}

// Create generates a key, stores its hash and returns the clear key, which
// cannot be recovered later.
func (s *Store) Create(ctx context.Context, spec NewSpec) (string, *Key, error) {
	if err := spec.Validate(); err != nil {
		return "", nil, fmt.Errorf("create api key: %w", err)
	}
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	raw := make([]byte, 24)
	if _, err := io.ReadFull(r, raw); err != nil {
		return "", nil, fmt.Errorf("create api key: read random: %w", err)
	}
	clear := KeyPrefix + hex.EncodeToString(raw)
	dbs := slices.Clone(spec.Databases)
	slices.Sort(dbs)
	dbs = slices.Compact(dbs)
	if slices.Contains(dbs, AllDatabases) {
		dbs = []string{AllDatabases}
	}
	k := &Key{Hash: Hash(clear), Name: spec.Name, Databases: dbs, CanWrite: spec.CanWrite, CanRead: spec.CanRead, CanFlush: spec.CanFlush, CreatedAt: s.now().Truncate(time.Second)}
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Table),
		Item:                k.item(),
		ConditionExpression: aws.String("attribute_not_exists(key_hash)"),
	})
	if err != nil {
		return "", nil, fmt.Errorf("create api key %q in %s: %w", spec.Name, s.Table, err)
	}
	return clear, k, nil
}

// Lookup returns the stored key for a clear key, or ErrNotFound.
func (s *Store) Lookup(ctx context.Context, clear string) (*Key, error) {
	return s.Get(ctx, Hash(clear))
}

// Get returns the key with the given hash, or ErrNotFound.
func (s *Store) Get(ctx context.Context, hash string) (*Key, error) {
	return Get(ctx, s.DB, s.Table, hash)
}

// Get reads the key with the given hash from table, or returns ErrNotFound.
func Get(ctx context.Context, db ReadAPI, table, hash string) (*Key, error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]types.AttributeValue{"key_hash": &types.AttributeValueMemberS{Value: hash}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get api key from %s: %w", table, err)
	}
	if len(out.Item) == 0 {
		return nil, ErrNotFound
	}
	return fromItem(out.Item), nil
}

// List returns every key, sorted by creation time then name.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	var keys []Key
	var start map[string]types.AttributeValue
	for {
		out, err := s.DB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Table), ExclusiveStartKey: start})
		if err != nil {
			return nil, fmt.Errorf("list api keys in %s: %w", s.Table, err)
		}
		for _, it := range out.Items {
			keys = append(keys, *fromItem(it))
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	slices.SortFunc(keys, func(a, b Key) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Name+a.Hash, b.Name+b.Hash)
	})
	return keys, nil
}

// Revoke marks the key whose hash starts with hashPrefix (at least 8 hex
// characters) as revoked. It returns the revoked key's full hash.
func (s *Store) Revoke(ctx context.Context, hashPrefix string) (string, error) {
	hashPrefix = strings.ToLower(hashPrefix)
	if len(hashPrefix) < 8 {
		return "", fmt.Errorf("revoke api key: hash prefix %q is shorter than 8 characters", hashPrefix)
	}
	keys, err := s.List(ctx)
	if err != nil {
		return "", err
	}
	var match []string
	for _, k := range keys {
		if strings.HasPrefix(k.Hash, hashPrefix) {
			match = append(match, k.Hash)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("revoke api key %s: %w", hashPrefix, ErrNotFound)
	case 1:
	default:
		return "", fmt.Errorf("revoke api key %s: %w", hashPrefix, ErrAmbiguous)
	}
	_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       map[string]types.AttributeValue{"key_hash": &types.AttributeValueMemberS{Value: match[0]}},
		UpdateExpression:          aws.String("SET revoked = :t"),
		ConditionExpression:       aws.String("attribute_exists(key_hash)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if err != nil {
		return "", fmt.Errorf("revoke api key %s: %w", match[0], err)
	}
	return match[0], nil
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (k *Key) item() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"key_hash":   &types.AttributeValueMemberS{Value: k.Hash},
		"name":       &types.AttributeValueMemberS{Value: k.Name},
		"databases":  &types.AttributeValueMemberSS{Value: k.Databases},
		"can_write":  &types.AttributeValueMemberBOOL{Value: k.CanWrite},
		"can_read":   &types.AttributeValueMemberBOOL{Value: k.CanRead},
		"can_flush":  &types.AttributeValueMemberBOOL{Value: k.CanFlush},
		"created_at": &types.AttributeValueMemberN{Value: strconv.FormatInt(k.CreatedAt.Unix(), 10)},
		"revoked":    &types.AttributeValueMemberBOOL{Value: k.Revoked},
	}
}

// fromItem reads an item leniently: missing attributes are zero values, and
// "databases" may be a string set, a list or a single string.
func fromItem(it map[string]types.AttributeValue) *Key {
	k := &Key{}
	if v, ok := it["key_hash"].(*types.AttributeValueMemberS); ok {
		k.Hash = v.Value
	}
	if v, ok := it["name"].(*types.AttributeValueMemberS); ok {
		k.Name = v.Value
	}
	switch v := it["databases"].(type) {
	case *types.AttributeValueMemberSS:
		k.Databases = slices.Clone(v.Value)
	case *types.AttributeValueMemberS:
		k.Databases = []string{v.Value}
	case *types.AttributeValueMemberL:
		for _, e := range v.Value {
			if s, ok := e.(*types.AttributeValueMemberS); ok {
				k.Databases = append(k.Databases, s.Value)
			}
		}
	}
	if v, ok := it["can_write"].(*types.AttributeValueMemberBOOL); ok {
		k.CanWrite = v.Value
	}
	if v, ok := it["can_read"].(*types.AttributeValueMemberBOOL); ok {
		k.CanRead = v.Value
	}
	if v, ok := it["can_flush"].(*types.AttributeValueMemberBOOL); ok {
		k.CanFlush = v.Value
	}
	if v, ok := it["revoked"].(*types.AttributeValueMemberBOOL); ok {
		k.Revoked = v.Value
	}
	if v, ok := it["created_at"].(*types.AttributeValueMemberN); ok {
		if n, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
			k.CreatedAt = time.Unix(n, 0).UTC()
		}
	}
	return k
}
