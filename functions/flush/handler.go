package flush

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/spillwayhq/spillway/shared/fault"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// S3API is the part of the S3 client flush uses.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// DynamoDBAPI is the part of the DynamoDB client flush uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Importer is the part of the TD import client flush uses.
type Importer interface {
	ImportWithID(ctx context.Context, db, table, uniqueID string, body []byte) (*tdimport.ImportResult, error)
	CreateDatabase(ctx context.Context, db string) error
	CreateTable(ctx context.Context, db, table string) error
}

var (
	_ S3API       = (*s3.Client)(nil)
	_ DynamoDBAPI = (*dynamodb.Client)(nil)
	_ Importer    = (*tdimport.Client)(nil)
)

// Sink is one TD import endpoint.
type Sink struct {
	Endpoint string   // base URL; names the sink in manifests and failed/ keys
	Client   Importer // client for that endpoint
}

// Manifest states.
const (
	StateOpen    = "open"    // created, claims in progress
	StateClaimed = "claimed" // every staged object claimed
	StateSealed  = "sealed"  // sealed objects written
	StateDone    = "done"    // every sink committed, staged objects deleted
	StateAborted = "aborted" // lost a claim race; claims released
	sourceSched  = "aws.events"
	sourceIngest = "spillway.ingest"
)

// ErrBadRequest is returned for an invocation payload flush does not understand.
var ErrBadRequest = errors.New("bad flush request")

// Request is an invocation payload: an EventBridge scheduled event
// (source aws.events) or an on-demand request from ingest.
type Request struct {
	Source string `json:"source"`
	DB     string `json:"db,omitempty"`
	Table  string `json:"table,omitempty"`
	Force  bool   `json:"force,omitempty"`
}

// Result summarises one invocation.
type Result struct {
	Tables        int      `json:"tables"`
	Manifests     int      `json:"manifests"`
	Resumed       int      `json:"resumed"`
	Aborted       int      `json:"aborted"`
	SealedObjects int      `json:"sealed_objects"`
	Events        int64    `json:"events"`
	Bytes         int64    `json:"bytes"`
	Parked        int      `json:"parked"`
	Errors        []string `json:"errors,omitempty"`
}

// Handler is the flush Lambda handler.
type Handler struct {
	cfg   Config
	s3    S3API
	ddb   DynamoDBAPI
	sinks []Sink
	log   *slog.Logger
	now   func() time.Time
	fault FaultFunc
}

// Option customises a Handler.
type Option func(*Handler)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithFault sets the fault-point hook.
func WithFault(f FaultFunc) Option { return func(h *Handler) { h.fault = f } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// New checks cfg and returns a handler.
func New(cfg Config, s3c S3API, ddb DynamoDBAPI, sinks []Sink, opts ...Option) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("flush config: %w", err)
	}
	h := &Handler{cfg: cfg, s3: s3c, ddb: ddb, sinks: sinks, log: slog.Default(), now: time.Now, fault: fault.None}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// Handle runs one flush: scheduled (what is due) or on demand (force).
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (Result, error) {
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	force := false
	switch req.Source {
	case sourceSched:
		req.DB, req.Table = "", ""
	case sourceIngest:
		force = req.Force
	default:
		return Result{}, fmt.Errorf("%w: unknown source %q", ErrBadRequest, req.Source)
	}
	if req.DB != "" {
		if err := names.Validate("database", req.DB); err != nil {
			return Result{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	}
	if req.Table != "" {
		if err := names.Validate("table", req.Table); err != nil {
			return Result{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	}
	tables, err := h.tables(ctx, req.DB, req.Table)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var errs []error
	for _, t := range tables {
		res.Tables++
		if err := h.flushTable(ctx, t[0], t[1], force, &res); err != nil {
			if errors.Is(err, errFault) {
				return res, err
			}
			h.log.ErrorContext(ctx, "flush table", "db", t[0], "table", t[1], "err", err)
			res.Errors = append(res.Errors, err.Error())
			errs = append(errs, err)
		}
	}
	h.log.InfoContext(ctx, "flush done", "tables", res.Tables, "manifests", res.Manifests, "resumed", res.Resumed,
		"sealed_objects", res.SealedObjects, "events", res.Events, "parked", res.Parked, "errors", len(errs))
	return res, errors.Join(errs...)
}

// errFault marks an error returned by the fault hook.
var errFault = errors.New("fault point")

func (h *Handler) point(ctx context.Context, p string) error {
	if err := h.fault(ctx, p); err != nil {
		return fmt.Errorf("%w %s: %w", errFault, p, err)
	}
	return nil
}

// tables lists (db, table) pairs from the catalog.
func (h *Handler) tables(ctx context.Context, db, table string) ([][2]string, error) {
	if db != "" && table != "" {
		return [][2]string{{db, table}}, nil
	}
	var out [][2]string
	p := dynamodb.NewScanPaginator(h.ddb, &dynamodb.ScanInput{
		TableName: aws.String(h.cfg.CatalogTable), ProjectionExpression: aws.String("db, #t"),
		ExpressionAttributeNames: map[string]string{"#t": "table"},
	})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan catalog: %w", err)
		}
		for _, it := range pg.Items {
			d, t, err := layout.ParseCatalogKey(sval(it["db"]), sval(it["table"]))
			if err != nil || t == "" || (db != "" && d != db) {
				continue
			}
			out = append(out, [2]string{d, t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+"."+out[i][1] < out[j][0]+"."+out[j][1] })
	return out, nil
}

// stagedItem is a staged (or late) object item written by fanout.
type stagedItem struct {
	Key       string `dynamodbav:"sk"`
	Events    int64  `dynamodbav:"events"`
	Bytes     int64  `dynamodbav:"bytes"`
	HourUnix  int64  `dynamodbav:"hour_unix"`
	Late      bool   `dynamodbav:"late"`
	ClaimedBy string `dynamodbav:"claimed_by"`
}

// ManifestEntry is one claimed staged object in a manifest.
type ManifestEntry struct {
	Key    string `dynamodbav:"k" json:"k"`
	Events int64  `dynamodbav:"e" json:"e"`
	Bytes  int64  `dynamodbav:"b" json:"b"`
}

// Manifest is one flush of one table.
type Manifest struct {
	PK      string          `dynamodbav:"pk"`
	ID      string          `dynamodbav:"sk"`
	DB      string          `dynamodbav:"db"`
	Table   string          `dynamodbav:"table"`
	State   string          `dynamodbav:"state"`
	Entries []ManifestEntry `dynamodbav:"entries"`
	Sealed  []string        `dynamodbav:"sealed,omitempty"`
	Imports []string        `dynamodbav:"imports,stringset,omitempty"`
	Created int64           `dynamodbav:"created_at"`
}

func (h *Handler) flushTable(ctx context.Context, db, table string, force bool, res *Result) error {
	open, err := h.openManifests(ctx, db, table)
	if err != nil {
		return err
	}
	for _, m := range open {
		res.Resumed++
		if err := h.run(ctx, m, res); err != nil {
			return err
		}
	}
	for round := 0; round < 50; round++ {
		items, err := h.staged(ctx, db, table)
		if err != nil {
			return err
		}
		due := h.due(items, force)
		if len(due) == 0 {
			return nil
		}
		if len(due) > h.cfg.MaxClaim {
			due = due[:h.cfg.MaxClaim]
		}
		m, err := h.createManifest(ctx, db, table, due)
		if err != nil {
			return err
		}
		if m.State == StateDone {
			return fmt.Errorf("manifest %s for %s.%s is done but its staged objects remain", m.ID, db, table)
		}
		res.Manifests++
		if err := h.run(ctx, m, res); err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) openManifests(ctx context.Context, db, table string) ([]*Manifest, error) {
	var out []*Manifest
	p := dynamodb.NewQueryPaginator(h.ddb, &dynamodb.QueryInput{
		TableName: aws.String(h.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("#s IN (:o, :c, :z)"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(layout.ManifestPK(db, table)), ":o": str(StateOpen), ":c": str(StateClaimed), ":z": str(StateSealed)},
	})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query manifests of %s.%s: %w", db, table, err)
		}
		for _, it := range pg.Items {
			var m Manifest
			if err := attributevalue.UnmarshalMap(it, &m); err != nil {
				return nil, fmt.Errorf("decode manifest of %s.%s: %w", db, table, err)
			}
			out = append(out, &m)
		}
	}
	return out, nil
}

func (h *Handler) staged(ctx context.Context, db, table string) ([]stagedItem, error) {
	var out []stagedItem
	p := dynamodb.NewQueryPaginator(h.ddb, &dynamodb.QueryInput{
		TableName: aws.String(h.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(layout.StagedPK(db, table))},
	})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query staged of %s.%s: %w", db, table, err)
		}
		for _, it := range pg.Items {
			var s stagedItem
			if err := attributevalue.UnmarshalMap(it, &s); err != nil {
				return nil, fmt.Errorf("decode staged item of %s.%s: %w", db, table, err)
			}
			if s.ClaimedBy == "" {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// due picks the unclaimed staged items to seal now, sorted by key: all of
// them when forced or when their bytes reach the seal target, else the
// late ones and those whose hour ended more than the late window ago.
func (h *Handler) due(items []stagedItem, force bool) []ManifestEntry {
	var total int64
	for _, s := range items {
		total += s.Bytes
	}
	cutoff := h.now().Add(-h.cfg.LateWindow).Unix()
	var out []ManifestEntry
	for _, s := range items {
		if force || total >= h.cfg.SealTargetBytes || s.Late || s.HourUnix+3600 <= cutoff {
			out = append(out, ManifestEntry{Key: s.Key, Events: s.Events, Bytes: s.Bytes})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (h *Handler) createManifest(ctx context.Context, db, table string, entries []ManifestEntry) (*Manifest, error) {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	m := &Manifest{PK: layout.ManifestPK(db, table), ID: layout.ManifestID(keys), DB: db, Table: table, State: StateOpen, Entries: entries, Created: h.now().Unix()}
	item, err := attributevalue.MarshalMap(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	_, err = h.ddb.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(h.cfg.ManifestTable), Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(sk) OR #s = :a"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": str(StateAborted)},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return h.getManifest(ctx, db, table, m.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("create manifest %s for %s.%s: %w", m.ID, db, table, err)
	}
	return m, h.point(ctx, "after-manifest")
}

func (h *Handler) getManifest(ctx context.Context, db, table, id string) (*Manifest, error) {
	res, err := h.ddb.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(h.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": str(layout.ManifestPK(db, table)), "sk": str(id)},
	})
	if err != nil {
		return nil, fmt.Errorf("get manifest %s: %w", id, err)
	}
	if res.Item == nil {
		return nil, fmt.Errorf("manifest %s of %s.%s vanished", id, db, table)
	}
	var m Manifest
	if err := attributevalue.UnmarshalMap(res.Item, &m); err != nil {
		return nil, fmt.Errorf("decode manifest %s: %w", id, err)
	}
	return &m, nil
}

// setState moves m from one state to the next; when another flush moved it
// first, m is reloaded.
func (h *Handler) setState(ctx context.Context, m *Manifest, to string, extraSet string, extra map[string]types.AttributeValue) error {
	vals := map[string]types.AttributeValue{":from": str(m.State), ":to": str(to), ":now": num(h.now().Unix())}
	for k, v := range extra {
		vals[k] = v
	}
	_, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.cfg.ManifestTable),
		Key:                       map[string]types.AttributeValue{"pk": str(m.PK), "sk": str(m.ID)},
		UpdateExpression:          aws.String("SET #s = :to, updated_at = :now" + extraSet),
		ConditionExpression:       aws.String("#s = :from"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: vals,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		cur, gerr := h.getManifest(ctx, m.DB, m.Table, m.ID)
		if gerr != nil {
			return gerr
		}
		*m = *cur
		return nil
	}
	if err != nil {
		return fmt.Errorf("manifest %s %s -> %s: %w", m.ID, m.State, to, err)
	}
	m.State = to
	return nil
}

// run drives a manifest to done (or aborted).
func (h *Handler) run(ctx context.Context, m *Manifest, res *Result) error {
	var bodies map[string][]byte
	for {
		switch m.State {
		case StateOpen:
			ok, err := h.claim(ctx, m)
			if err != nil {
				return err
			}
			if !ok {
				res.Aborted++
				return nil
			}
			if err := h.setState(ctx, m, StateClaimed, "", nil); err != nil {
				return err
			}
			if err := h.point(ctx, "after-claim"); err != nil {
				return err
			}
		case StateClaimed:
			objs, b, err := h.seal(ctx, m)
			if err != nil {
				return err
			}
			bodies = b
			lv, _ := attributevalue.Marshal(objs)
			if err := h.setState(ctx, m, StateSealed, ", sealed = :objs", map[string]types.AttributeValue{":objs": lv}); err != nil {
				return err
			}
			if m.Sealed == nil {
				m.Sealed = objs
			}
			if err := h.point(ctx, "after-seal"); err != nil {
				return err
			}
		case StateSealed:
			if err := h.importAll(ctx, m, bodies, res); err != nil {
				return err
			}
			if err := h.point(ctx, "before-delete"); err != nil {
				return err
			}
			if err := h.finish(ctx, m); err != nil {
				return err
			}
			if err := h.point(ctx, "after-delete"); err != nil {
				return err
			}
			if err := h.setState(ctx, m, StateDone, ", done_at = :now", nil); err != nil {
				return err
			}
			for _, e := range m.Entries {
				res.Events += e.Events
				res.Bytes += e.Bytes
			}
			res.SealedObjects += len(m.Sealed)
		case StateDone, StateAborted:
			return nil
		default:
			return fmt.Errorf("manifest %s: unknown state %q", m.ID, m.State)
		}
	}
}

// claim marks every entry claimed by m, in key order. On a lost race it
// releases m's claims, marks m aborted and reports false.
func (h *Handler) claim(ctx context.Context, m *Manifest) (bool, error) {
	for i, e := range m.Entries {
		_, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(h.cfg.ManifestTable),
			Key:                       map[string]types.AttributeValue{"pk": str(layout.StagedPK(m.DB, m.Table)), "sk": str(e.Key)},
			UpdateExpression:          aws.String("SET claimed_by = :m"),
			ConditionExpression:       aws.String("attribute_exists(pk) AND (attribute_not_exists(claimed_by) OR claimed_by = :m)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":m": str(m.ID)},
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			h.log.InfoContext(ctx, "claim lost, aborting manifest", "db", m.DB, "table", m.Table, "manifest", m.ID, "key", e.Key)
			for _, r := range m.Entries[:i] {
				_, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName:                 aws.String(h.cfg.ManifestTable),
					Key:                       map[string]types.AttributeValue{"pk": str(layout.StagedPK(m.DB, m.Table)), "sk": str(r.Key)},
					UpdateExpression:          aws.String("REMOVE claimed_by"),
					ConditionExpression:       aws.String("claimed_by = :m"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":m": str(m.ID)},
				})
				if err != nil && !errors.As(err, &ccf) {
					return false, fmt.Errorf("release claim %s: %w", r.Key, err)
				}
			}
			if err := h.setState(ctx, m, StateAborted, "", nil); err != nil {
				return false, err
			}
			return m.State != StateAborted && m.State != StateOpen, nil
		}
		if err != nil {
			return false, fmt.Errorf("claim %s for manifest %s: %w", e.Key, m.ID, err)
		}
	}
	return true, nil
}

// seal reads m's staged objects and writes the sealed objects (same keys
// and bytes on every run). It returns their keys and bodies.
func (h *Handler) seal(ctx context.Context, m *Manifest) ([]string, map[string][]byte, error) {
	type pe struct {
		part layout.Partition
		path string
		e    ManifestEntry
	}
	var ents []pe
	for _, e := range m.Entries {
		o, err := layout.ParsePartKey(e.Key)
		if err != nil {
			return nil, nil, err
		}
		ents = append(ents, pe{o.Partition, o.Partition.Path(), e})
	}
	sort.SliceStable(ents, func(i, j int) bool {
		if ents[i].path != ents[j].path {
			return ents[i].path < ents[j].path
		}
		return ents[i].e.Key < ents[j].e.Key
	})
	var keys []string
	bodies := map[string][]byte{}
	var cur bytes.Buffer
	var curPart layout.Partition
	curPath := ""
	flush := func() error {
		if cur.Len() == 0 {
			return nil
		}
		k := layout.SealedKey(curPart, m.ID, len(keys))
		body := gzipBytes(cur.Bytes())
		if err := h.put(ctx, k, body); err != nil {
			return err
		}
		keys = append(keys, k)
		bodies[k] = body
		cur.Reset()
		return nil
	}
	for _, x := range ents {
		if x.path != curPath || int64(cur.Len()) >= h.cfg.SealTargetBytes {
			if err := flush(); err != nil {
				return nil, nil, err
			}
			curPart, curPath = x.part, x.path
		}
		raw, err := h.get(ctx, x.e.Key)
		if err != nil {
			return nil, nil, err
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, fmt.Errorf("gunzip %s: %w", x.e.Key, err)
		}
		if _, err := io.Copy(&cur, zr); err != nil {
			return nil, nil, fmt.Errorf("gunzip %s: %w", x.e.Key, err)
		}
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}
	return keys, bodies, nil
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// ImportID is the TD unique_id of sealed object n of a manifest.
func ImportID(manifestID string, n int) string { return manifestID + "-" + strconv.Itoa(n) }

// FailedRecord is the JSON stored under failed/ for a refused import.
type FailedRecord struct {
	Endpoint   string `json:"endpoint"`
	DB         string `json:"db"`
	Table      string `json:"table"`
	UniqueID   string `json:"unique_id"`
	Object     string `json:"object"`
	StatusCode int    `json:"status_code"`
	Response   string `json:"response"`
}

func (h *Handler) importAll(ctx context.Context, m *Manifest, bodies map[string][]byte, res *Result) error {
	done := map[string]bool{}
	for _, s := range m.Imports {
		done[s] = true
	}
	for _, sink := range h.sinks {
		for n, k := range m.Sealed {
			mark := sink.Endpoint + " " + strconv.Itoa(n)
			if done[mark] {
				continue
			}
			body, ok := bodies[k]
			if !ok {
				var err error
				if body, err = h.get(ctx, k); err != nil {
					return err
				}
			}
			uid := ImportID(m.ID, n)
			_, err := sink.Client.ImportWithID(ctx, m.DB, m.Table, uid, body)
			if tdimport.IsNotFound(err) {
				if err = sink.Client.CreateDatabase(ctx, m.DB); err == nil {
					if err = sink.Client.CreateTable(ctx, m.DB, m.Table); err == nil {
						_, err = sink.Client.ImportWithID(ctx, m.DB, m.Table, uid, body)
					}
				}
			}
			if err != nil && tdimport.IsPermanent(err) {
				if perr := h.park(ctx, sink.Endpoint, m, uid, k, err); perr != nil {
					return perr
				}
				res.Parked++
				err = nil
			}
			if err != nil {
				return fmt.Errorf("import %s into %s.%s at %s: %w", uid, m.DB, m.Table, sink.Endpoint, err)
			}
			_, err = h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(h.cfg.ManifestTable),
				Key:                       map[string]types.AttributeValue{"pk": str(m.PK), "sk": str(m.ID)},
				UpdateExpression:          aws.String("ADD imports :i"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":i": &types.AttributeValueMemberSS{Value: []string{mark}}},
			})
			if err != nil {
				return fmt.Errorf("record import %s: %w", mark, err)
			}
			done[mark] = true
			if err := h.point(ctx, "after-td-import"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *Handler) park(ctx context.Context, endpoint string, m *Manifest, uid, obj string, cause error) error {
	rec := FailedRecord{Endpoint: endpoint, DB: m.DB, Table: m.Table, UniqueID: uid, Object: obj, Response: cause.Error()}
	var se *tdimport.StatusError
	if errors.As(cause, &se) {
		rec.StatusCode, rec.Response = se.StatusCode, se.Body
	}
	doc, _ := json.Marshal(rec)
	key := layout.FailedKey(endpoint, m.DB, m.Table, uid)
	h.log.WarnContext(ctx, "import refused, parked", "db", m.DB, "table", m.Table, "unique_id", uid, "endpoint", endpoint, "key", key, "err", cause)
	return h.put(ctx, key, doc)
}

// finish marks the hours sealed, then deletes the staged objects and items.
func (h *Handler) finish(ctx context.Context, m *Manifest) error {
	seen := map[string]bool{}
	for _, e := range m.Entries {
		o, err := layout.ParsePartKey(e.Key)
		if err != nil {
			return err
		}
		sk := o.Partition.SealedSK()
		if seen[sk] {
			continue
		}
		seen[sk] = true
		_, err = h.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(h.cfg.ManifestTable), Item: map[string]types.AttributeValue{
			"pk": str(layout.SealedPK(m.DB, m.Table)), "sk": str(sk), "manifest": str(m.ID), "sealed_at": num(h.now().Unix()),
		}})
		if err != nil {
			return fmt.Errorf("mark %s.%s %s sealed: %w", m.DB, m.Table, sk, err)
		}
	}
	for _, e := range m.Entries {
		if _, err := h.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(h.cfg.Bucket), Key: aws.String(e.Key)}); err != nil {
			return fmt.Errorf("delete s3://%s/%s: %w", h.cfg.Bucket, e.Key, err)
		}
		_, err := h.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(h.cfg.ManifestTable),
			Key:                       map[string]types.AttributeValue{"pk": str(layout.StagedPK(m.DB, m.Table)), "sk": str(e.Key)},
			ConditionExpression:       aws.String("claimed_by = :m"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":m": str(m.ID)},
		})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return fmt.Errorf("delete staged item %s: %w", e.Key, err)
		}
	}
	return nil
}

func (h *Handler) put(ctx context.Context, key string, body []byte) error {
	if _, err := h.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", h.cfg.Bucket, key, err)
	}
	return nil
}

func (h *Handler) get(ctx context.Context, key string) ([]byte, error) {
	out, err := h.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", h.cfg.Bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", h.cfg.Bucket, key, err)
	}
	return b, nil
}

func sval(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
