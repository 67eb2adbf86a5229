package flush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/shared/fault"
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

// Invocation sources (Request.Source).
const (
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
		TableName: aws.String(h.cfg.CatalogTable), ProjectionExpression: aws.String(layout.AttrCatalogDB + ", #t"),
		ExpressionAttributeNames: map[string]string{"#t": layout.AttrCatalogTable},
	})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan catalog: %w", err)
		}
		for _, it := range pg.Items {
			d, t, err := layout.ParseCatalogKey(sval(it[layout.AttrCatalogDB]), sval(it[layout.AttrCatalogTable]))
			if err != nil || t == "" || (db != "" && d != db) {
				continue
			}
			out = append(out, [2]string{d, t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+"."+out[i][1] < out[j][0]+"."+out[j][1] })
	return out, nil
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
