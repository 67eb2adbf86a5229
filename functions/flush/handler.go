package flush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/shared/backoff"
	"github.com/spillwayhq/spillway/shared/fault"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// S3API is the part of the S3 client flush uses.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, opts ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
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
	sourceFanout = "spillway.fanout"
)

// sweepSpan bounds the sweeps of one scheduled run: the schedule's
// shortest rate is one minute, and the next run takes over from there.
const sweepSpan = 50 * time.Second

// runReserve is the time a run keeps in hand before its deadline: no new
// table or manifest is started past it, so the run ends cleanly and the
// tables it did not reach lead the next run.
const runReserve = 20 * time.Second

// ErrBadRequest is returned for an invocation payload flush does not understand.
var ErrBadRequest = errors.New("bad flush request")

// Request is an invocation payload: an EventBridge scheduled event
// (source aws.events), an on-demand request from ingest (POST /v1/flush;
// force retries every sink's backlog now) or a table's flush request from
// fanout (new staged objects).
type Request struct {
	Source string `json:"source"`
	DB     string `json:"db,omitempty"`
	Table  string `json:"table,omitempty"`
	Force  bool   `json:"force,omitempty"`
}

// Result summarises one invocation.
type Result struct {
	Tables        int      `json:"tables"` // table visits, over every pass
	Passes        int      `json:"passes"`
	Manifests     int      `json:"manifests"`
	Resumed       int      `json:"resumed"`
	Aborted       int      `json:"aborted"`
	SealedObjects int      `json:"sealed_objects"`
	Events        int64    `json:"events"`
	Bytes         int64    `json:"bytes"`
	Parked        int      `json:"parked"`
	Waiting       int      `json:"waiting"`           // manifests whose sinks' backlog waits for its retry time
	Driven        int      `json:"driven,omitempty"`  // manifests left to the run that moved them on less than drivenFor ago
	Deferred      int      `json:"deferred"`          // tables left for the next run (deadline)
	Compacted     int      `json:"compacted"`         // lake hours compacted
	Missing       int      `json:"missing,omitempty"` // staged objects found gone under a claimed manifest (their items dropped)
	Errors        []string `json:"errors,omitempty"`

	// LakeSnapshotsExpired and LakeOrphansDeleted count the lake snapshots
	// expired and the unreferenced lake files deleted (lakemaint.go).
	LakeSnapshotsExpired int `json:"lake_snapshots_expired,omitempty"`
	LakeOrphansDeleted   int `json:"lake_orphans_deleted,omitempty"`
	// StagedOrphansDeleted counts staged objects no staged item references
	// or ever can (see stagedsweep.go) that the run deleted.
	StagedOrphansDeleted int `json:"staged_orphans_deleted,omitempty"`
}

// Handler is the flush Lambda handler.
type Handler struct {
	cfg   Config
	s3    S3API
	ddb   DynamoDBAPI
	sinks []Sink
	lake  Lake // nil: the lake is off
	log   *slog.Logger
	now   func() time.Time
	wall  func() time.Time // measures the time left to the invocation's deadline
	fault FaultFunc

	metricsOut io.Writer
}

// Option customises a Handler.
type Option func(*Handler)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithWallClock sets the clock that measures the time left before the
// invocation's deadline (tests; default time.Now). WithClock's clock is
// the one the data's times are compared with.
func WithWallClock(now func() time.Time) Option { return func(h *Handler) { h.wall = now } }

// WithFault sets the fault-point hook.
func WithFault(f FaultFunc) Option { return func(h *Handler) { h.fault = f } }

// WithMetrics sets where the EMF metric lines go (default standard output,
// which Lambda sends to CloudWatch Logs).
func WithMetrics(w io.Writer) Option { return func(h *Handler) { h.metricsOut = w } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// New checks cfg and returns a handler.
func New(cfg Config, s3c S3API, ddb DynamoDBAPI, sinks []Sink, opts ...Option) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("flush config: %w", err)
	}
	h := &Handler{cfg: cfg, s3: s3c, ddb: ddb, sinks: sinks, log: slog.Default(), now: time.Now, wall: time.Now, fault: fault.None, metricsOut: os.Stdout}
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
	case sourceFanout:
		if req.DB == "" || req.Table == "" {
			return Result{}, fmt.Errorf("%w: a fanout request names db and table", ErrBadRequest)
		}
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
	run := &runState{res: &Result{}, force: force, requested: req.Source == sourceFanout, backlog: map[string]int64{}}
	var errs []error
	began := time.Now()
	var tables [][2]string // the last pass's, for compaction and the staged sweep
	for pass := 1; ; pass++ {
		var err error
		tables, err = h.tables(ctx, req.DB, req.Table)
		if err != nil {
			return *run.res, err
		}
		before := run.res.Manifests + run.res.Resumed
		run.res.Passes = pass
		if err := h.pass(ctx, tables, run, &errs); err != nil {
			return *run.res, err
		}
		if err := h.point(ctx, "after-pass"); err != nil {
			return *run.res, err
		}
		// A scheduled run sweeps again every SweepEvery while the previous
		// pass found work, for sweepSpan: it seals what fanout did not ask
		// for (the last commits before traffic stopped) sooner than the next
		// schedule tick. An idle deployment stops after one pass.
		next := time.Duration(pass) * h.cfg.SweepEvery
		if req.Source != sourceSched || h.cfg.SweepEvery <= 0 || run.res.Manifests+run.res.Resumed == before || next > sweepSpan {
			break
		}
		if left, ok := h.timeLeft(ctx); ok && left < runReserve+h.cfg.SweepEvery {
			break
		}
		if err := backoff.Sleep(ctx, time.Until(began.Add(next))); err != nil {
			break
		}
	}
	if req.Source == sourceSched && h.lake != nil {
		if err := h.compactTables(ctx, tables, run, &errs); err != nil {
			return *run.res, err
		}
	}
	if (req.Source == sourceSched || force) && h.cfg.LedgerTable != "" {
		if err := h.sweepTables(ctx, tables, run, &errs); err != nil {
			return *run.res, err
		}
	}
	res := *run.res
	h.metrics(run)
	h.log.InfoContext(ctx, "flush done", "source", req.Source, "tables", res.Tables, "manifests", res.Manifests, "resumed", res.Resumed, "driven", res.Driven,
		"passes", res.Passes, "sealed_objects", res.SealedObjects, "events", res.Events, "parked", res.Parked, "waiting", res.Waiting, "deferred", res.Deferred, "compacted", res.Compacted, "missing", res.Missing, "errors", len(errs))
	return res, errors.Join(errs...)
}

// pass flushes every table once, in rotated order, until the deadline
// reserve; table errors are appended to errs, a fault point returns.
func (h *Handler) pass(ctx context.Context, tables [][2]string, run *runState, errs *[]error) error {
	left, err := h.eachTable(ctx, tables, "flush table", run, errs, func(db, table string) error {
		run.res.Tables++
		return h.flushTable(ctx, db, table, run)
	})
	if left > 0 {
		run.res.Deferred = left
		h.log.WarnContext(ctx, "flush deadline near, tables left for the next run", "deferred", left)
	}
	return err
}

// compactTables compacts the lake hours that are due and maintains the
// lake tables (maintainLake) of tables (the run's last pass), table by
// table in rotated order, until the deadline reserve; table errors are appended to errs, a fault point
// returns.
func (h *Handler) compactTables(ctx context.Context, tables [][2]string, run *runState, errs *[]error) error {
	_, err := h.eachTable(ctx, tables, "compact lake hours", run, errs, func(db, table string) error {
		if err := h.compactDue(ctx, db, table, run); err != nil {
			return err
		}
		return h.maintainLake(ctx, db, table, run)
	})
	return err
}

// eachTable calls f for every table in rotated order until the deadline
// reserve and returns how many tables it left. A table's error is logged
// as what, reported in run and appended to errs; a fault point returns.
func (h *Handler) eachTable(ctx context.Context, tables [][2]string, what string, run *runState, errs *[]error, f func(db, table string) error) (int, error) {
	for i, t := range rotate(tables, h.now()) {
		if h.late(ctx) {
			return len(tables) - i, nil
		}
		if err := f(t[0], t[1]); err != nil {
			if errors.Is(err, errFault) {
				return 0, err
			}
			h.log.ErrorContext(ctx, what, "db", t[0], "table", t[1], "err", err)
			run.res.Errors = append(run.res.Errors, err.Error())
			*errs = append(*errs, err)
		}
	}
	return 0, nil
}

// runState is what one invocation carries across tables.
type runState struct {
	res       *Result
	force     bool             // retry every sink's backlog now (on demand)
	requested bool             // fanout asked for this run
	backlog   map[string]int64 // per endpoint: the oldest unimported sealed object's seal time (unix)
	oldest    int64            // the oldest staged object's commit time seen (unix), 0 if none
}

// rotate returns tables starting at an offset that moves every minute, so
// that under a deadline no table is always last.
func rotate(tables [][2]string, now time.Time) [][2]string {
	if len(tables) < 2 {
		return tables
	}
	k := int(now.Unix()/60) % len(tables)
	return append(append([][2]string(nil), tables[k:]...), tables[:k]...)
}

// late reports whether the invocation's deadline is within runReserve.
func (h *Handler) late(ctx context.Context) bool {
	left, ok := h.timeLeft(ctx)
	return ok && left < runReserve
}

// timeLeft is the time left before ctx's deadline, if it has one.
func (h *Handler) timeLeft(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Deadline()
	return d.Sub(h.wall()), ok
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

// takeRequest deletes the table's flush-request item (see fanout) before
// the staged items are read: a commit after it asks again, one before it is
// sealed by this run. A run fanout did not ask for takes it only when the
// table has staged items (a delete costs a write).
func (h *Handler) takeRequest(ctx context.Context, db, table string, run *runState) error {
	if !run.requested {
		items, err := h.staged(ctx, db, table)
		if err != nil || len(items) == 0 {
			return err
		}
	}
	return h.clearRequest(ctx, db, table)
}

// drivenFor is how long after a run last moved a manifest on (Updated)
// other runs leave it to that run. Resuming a manifest another run is
// driving is safe (every step is conditional or idempotent) but doubles its
// work: both runs read its staged objects, write its sealed objects and
// append to the lake, where their commits then conflict. Fanout's flush
// requests start runs of a busy table back to back, so without this each
// run would resume the manifests of the runs before it. A run that crashed
// leaves its manifest to the first run after drivenFor; forced runs resume
// every manifest at once.
const drivenFor = 30 * time.Second

// driven reports whether a run moved m on less than drivenFor ago.
func (h *Handler) driven(m *Manifest) bool {
	return h.now().Sub(time.Unix(max(m.Created, m.Updated), 0)) < drivenFor
}

// flushTable drives the table's live manifests on, then seals every
// committed staged object in new manifests. A manifest that fails is
// reported and left for a later run; it never stops the table's other
// manifests or the sealing of new objects.
func (h *Handler) flushTable(ctx context.Context, db, table string, run *runState) error {
	open, err := h.openManifests(ctx, db, table)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range open {
		// (A manifest waiting for its retry time is counted as waiting by run.)
		if !run.force && h.driven(m) && m.RetryAt <= h.now().Unix() {
			run.res.Driven++
			if m.State == StateStored {
				h.noteBacklog(m, run) // its endpoints' backlog age still counts
			}
			continue
		}
		run.res.Resumed++
		if err := h.run(ctx, m, run); err != nil {
			if errors.Is(err, errFault) {
				return err
			}
			errs = append(errs, err)
		}
	}
	if err := h.takeRequest(ctx, db, table, run); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for round := 0; round < 50 && !h.late(ctx); round++ {
		items, err := h.staged(ctx, db, table)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		due := h.due(items, run)
		if len(due) == 0 {
			break
		}
		if len(due) > h.cfg.MaxClaim {
			due = due[:h.cfg.MaxClaim]
		}
		m, err := h.createManifest(ctx, db, table, due)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		run.res.Manifests++
		aborted := run.res.Aborted
		if err := h.run(ctx, m, run); err != nil {
			if errors.Is(err, errFault) {
				return err
			}
			// Its staged objects stay claimed by it and are retried from
			// there; the next round takes the table's other objects.
			errs = append(errs, err)
		}
		if run.res.Aborted > aborted {
			// m lost a claim: another run is sealing the table now, and its
			// own rounds take what is left. A new manifest here would
			// race it for the keys it has not claimed yet (claims are not
			// one atomic batch), making the winner lose in turn.
			break
		}
	}
	return errors.Join(errs...)
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
