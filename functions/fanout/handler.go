package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/fault"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/names"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// S3API is the part of the S3 client fanout uses.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// DynamoDBAPI is the part of the DynamoDB client fanout uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var (
	_ S3API       = (*s3.Client)(nil)
	_ DynamoDBAPI = (*dynamodb.Client)(nil)
)

// maxStagedPerPart bounds the staged objects of one transaction so that it
// stays within DynamoDB's 100 actions (ledger + catalog + staged items). A
// part with more is committed in chunks (see commit).
const maxStagedPerPart = 98

// Handler is the fanout Lambda handler.
type Handler struct {
	cfg    Config
	s3     S3API
	ddb    DynamoDBAPI
	lambda LambdaAPI
	log    *slog.Logger
	now    func() time.Time
	fault  FaultFunc
}

// Option customises a Handler.
type Option func(*Handler)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithFault sets the fault-point hook.
func WithFault(f FaultFunc) Option { return func(h *Handler) { h.fault = f } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// New checks cfg and returns a handler using the given clients.
func New(cfg Config, s3c S3API, ddb DynamoDBAPI, opts ...Option) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fanout config: %w", err)
	}
	h := &Handler{cfg: cfg, s3: s3c, ddb: ddb, log: slog.Default(), now: time.Now, fault: fault.None}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// group is the events of one part in one partition bound for one prefix.
type group struct {
	part   layout.Partition
	late   bool
	future bool
	key    string // the object's key (a staged group of one part has none until merged)
	events int
	bytes  int64
	parts  int      // parts merged into the object
	raw    [][]byte // the events, until encoded into body
	body   []byte
	minT   int64
	maxT   int64
}

// part is one decoded, not-yet-committed envelope.
type part struct {
	idx    int
	env    *envelope.Envelope
	id     string
	events []Event
	schema Schema
	groups []*group
	failed bool
}

// batch tracks the lowest failed record of one invocation.
type batch struct {
	mu          sync.Mutex
	lowest      int
	quarantined int
}

func (b *batch) fail(i int) {
	b.mu.Lock()
	if i < b.lowest {
		b.lowest = i
	}
	b.mu.Unlock()
}

// Handle processes one Kinesis batch. It returns BatchItemFailures from the
// lowest record that could not be committed onward; bad records never fail
// the batch (they are quarantined).
func (h *Handler) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	now := h.now()
	b := &batch{lowest: len(ev.Records)}
	var parts []*part
	seen := map[string]bool{}
	for i := range ev.Records {
		r := &ev.Records[i]
		env, err := envelope.Unmarshal(r.Kinesis.Data)
		if err == nil {
			err = errors.Join(names.Validate("database", env.DB), names.Validate("table", env.Table))
		}
		var evs []Event
		var schema Schema
		if err == nil {
			evs, schema, err = DecodePayload(env.Encoding, env.Payload, h.cfg.MaxPayload)
		}
		if err != nil {
			h.quarantineRecord(ctx, b, i, r, err.Error())
			continue
		}
		id := envelope.PartID(env)
		if seen[id] {
			continue
		}
		seen[id] = true
		parts = append(parts, &part{idx: i, env: env, id: id, events: evs, schema: schema})
	}
	if err := h.fault(ctx, "after-decode"); err != nil {
		return events.KinesisEventResponse{}, err
	}

	parts, err := h.dropDone(ctx, parts)
	if err != nil {
		// Not fatal: the transaction's condition is the real guard.
		h.log.WarnContext(ctx, "ledger pre-check failed", "err", err)
	}
	catalog, err := h.loadCatalog(ctx, parts)
	if err != nil {
		return h.failAll(ctx, ev, parts, b, fmt.Errorf("load catalog: %w", err))
	}
	if !h.cfg.AutoCreate {
		kept := parts[:0]
		for _, p := range parts {
			if _, ok := catalog[tableKey{p.env.DB, p.env.Table}]; !ok {
				h.quarantineRecord(ctx, b, p.idx, &ev.Records[p.idx], fmt.Sprintf("unknown table %s.%s and auto-create is off", p.env.DB, p.env.Table))
				continue
			}
			kept = append(kept, p)
		}
		parts = kept
	}
	futureLimit := now.Add(h.cfg.FutureLimit).Unix()
	closedBefore := now.Add(-h.cfg.LateWindow).Unix()
	for _, p := range parts {
		if err := p.split(closedBefore, futureLimit); err != nil {
			p.failed = true
			h.quarantineRecord(ctx, b, p.idx, &ev.Records[p.idx], err.Error())
		}
	}

	// Plan the transactions, then stage their objects: a pack's events of
	// one hour in one object, under a key named after its units (same key
	// and bytes for the same units on every delivery).
	perTable := byTable(parts)
	plans := map[tableKey][]*pack{}
	var all []*pack
	for tk, ps := range perTable {
		plans[tk] = packUnits(ps)
		all = append(all, plans[tk]...)
	}
	var stageFailed []*pack
	var mu sync.Mutex
	forEach(all, h.cfg.Concurrency, func(pk *pack) {
		if err := h.stage(ctx, pk); err != nil {
			h.log.ErrorContext(ctx, "stage parts", "db", pk.units[0].p.env.DB, "table", pk.units[0].p.env.Table, "parts", len(pk.parts()), "err", err)
			mu.Lock()
			stageFailed = append(stageFailed, pk)
			mu.Unlock()
		}
	})
	for _, pk := range stageFailed {
		for _, p := range pk.parts() {
			p.failed = true
			b.fail(p.idx)
		}
	}
	if err := h.fault(ctx, "after-stage-s3"); err != nil {
		return events.KinesisEventResponse{}, err
	}

	// Catalog bounds and schema: idempotent, done before the counters so a
	// committed part is always inside min/max.
	for tk, parts := range byTable(parts) {
		if err := h.updateBounds(ctx, tk, catalog[tk], parts, now); err != nil {
			h.log.ErrorContext(ctx, "update catalog bounds", "db", tk.db, "table", tk.table, "err", err)
			for _, p := range parts {
				p.failed = true
				b.fail(p.idx)
			}
		}
	}
	if err := h.fault(ctx, "after-catalog-bounds"); err != nil {
		return events.KinesisEventResponse{}, err
	}

	// A table's packs commit in order, one transaction each: they all
	// update the table's catalog counters, and concurrent transactions on
	// one item conflict.
	var committed, skipped, nEvents int
	fresh := map[tableKey]bool{} // tables that committed new staged objects
	var tables []tableKey
	for tk := range plans {
		tables = append(tables, tk)
	}
	forEach(tables, h.cfg.CommitConcurrency, func(tk tableKey) {
		done, failed := h.commitPacks(ctx, plans[tk], now)
		mu.Lock()
		defer mu.Unlock()
		for _, p := range perTable[tk] {
			switch err, isFailed := failed[p]; {
			case isFailed:
				if err != nil {
					h.log.ErrorContext(ctx, "commit part", "db", p.env.DB, "table", p.env.Table, "unique_id", p.env.UniqueID, "part", p.env.Part, "err", err)
				}
				b.fail(p.idx)
			case done[p]:
				skipped++
			default:
				committed++
				nEvents += len(p.events)
				fresh[tk] = true
			}
		}
	})
	if err := h.fault(ctx, "after-commit"); err != nil {
		return events.KinesisEventResponse{}, err
	}
	h.requestFlushes(ctx, fresh, now)
	resp := h.response(ev, b.lowest)
	h.log.InfoContext(ctx, "fanout batch", "records", len(ev.Records), "committed_parts", committed, "duplicate_parts", skipped,
		"events", nEvents, "quarantined", b.quarantined, "failed_records", len(resp.BatchItemFailures))
	return resp, nil
}

func (h *Handler) failAll(ctx context.Context, ev events.KinesisEvent, parts []*part, b *batch, err error) (events.KinesisEventResponse, error) {
	h.log.ErrorContext(ctx, "fanout batch failed", "err", err)
	for _, p := range parts {
		b.fail(p.idx)
	}
	return h.response(ev, b.lowest), nil
}

func (h *Handler) response(ev events.KinesisEvent, lowest int) events.KinesisEventResponse {
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	for i := lowest; i < len(ev.Records); i++ {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: ev.Records[i].Kinesis.SequenceNumber})
	}
	return resp
}

// split groups p's events by partition and destination, in hour order.
// Events of an hour that ended before closedBefore are staged like any
// other and counted as late; events after futureLimit are quarantined
// (their bodies encoded here; staged events are encoded when their pack
// merges them, see pack.merge).
func (p *part) split(closedBefore, futureLimit int64) error {
	type dest struct {
		future bool
		hour   int64
	}
	byDest := map[dest]*group{}
	var order []dest
	for _, e := range p.events {
		pt := layout.PartitionOf(p.env.DB, p.env.Table, e.Time)
		d := dest{future: e.Time > futureLimit, hour: pt.Hour}
		g := byDest[d]
		if g == nil {
			g = &group{part: pt, future: d.future, parts: 1, minT: e.Time, maxT: e.Time}
			if d.future {
				g.key = layout.QuarantineFutureKey(pt, p.id)
			} else {
				g.late = pt.Hour+3600 <= closedBefore
			}
			byDest[d] = g
			order = append(order, d)
		}
		g.events++
		g.bytes += int64(len(e.Raw))
		g.minT = min(g.minT, e.Time)
		g.maxT = max(g.maxT, e.Time)
		g.raw = append(g.raw, e.Raw)
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].future != order[j].future {
			return order[j].future
		}
		return order[i].hour < order[j].hour
	})
	for _, d := range order {
		g := byDest[d]
		if g.future {
			g.body = tdrecord.GzipStream(g.raw...)
			g.raw = nil
		}
		p.groups = append(p.groups, g)
	}
	return nil
}

// put writes an object with its content type and user metadata (nil for
// none).
func (h *Handler) put(ctx context.Context, key string, body []byte, ctype string, meta map[string]string) error {
	_, err := h.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(h.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String(ctype), Metadata: meta,
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", h.cfg.Bucket, key, err)
	}
	return nil
}

// QuarantineRecord is the JSON document stored for an undecodable record.
type QuarantineRecord struct {
	Reason         string `json:"reason"`
	EventSourceARN string `json:"event_source_arn"`
	ShardID        string `json:"shard_id"`
	SequenceNumber string `json:"sequence_number"`
	PartitionKey   string `json:"partition_key"`
	ArrivalUnixMS  int64  `json:"approximate_arrival_ms"`
	Data           []byte `json:"data"`
}

func (h *Handler) quarantineRecord(ctx context.Context, b *batch, i int, r *events.KinesisEventRecord, reason string) {
	shard := shardOf(r.EventID)
	doc, _ := json.Marshal(QuarantineRecord{
		Reason: reason, EventSourceARN: r.EventSourceArn, ShardID: shard, SequenceNumber: r.Kinesis.SequenceNumber,
		PartitionKey: r.Kinesis.PartitionKey, ArrivalUnixMS: r.Kinesis.ApproximateArrivalTimestamp.UnixMilli(), Data: r.Kinesis.Data,
	})
	key := layout.QuarantineRecordKey(shard, r.Kinesis.SequenceNumber)
	if err := h.put(ctx, key, doc, "application/json", nil); err != nil {
		h.log.ErrorContext(ctx, "quarantine record", "key", key, "err", err)
		b.fail(i)
		return
	}
	b.mu.Lock()
	b.quarantined++
	b.mu.Unlock()
	h.log.WarnContext(ctx, "record quarantined", "key", key, "shard_id", shard, "sequence_number", r.Kinesis.SequenceNumber, "reason", reason)
}

// shardOf extracts the shard id from a Kinesis event id ("shardId-...:seq").
func shardOf(eventID string) string {
	for i := 0; i < len(eventID); i++ {
		if eventID[i] == ':' {
			return eventID[:i]
		}
	}
	if eventID == "" {
		return "unknown"
	}
	return eventID
}

type tableKey struct{ db, table string }

func byTable(parts []*part) map[tableKey][]*part {
	m := map[tableKey][]*part{}
	for _, p := range parts {
		if p.failed {
			continue
		}
		tk := tableKey{p.env.DB, p.env.Table}
		m[tk] = append(m[tk], p)
	}
	return m
}

// forEach runs fn over xs with at most limit in parallel.
func forEach[T any](xs []T, limit int, fn func(T)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, p := range xs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(p)
		}()
	}
	wg.Wait()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func num(n int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: itoa(n)} }

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
