package flush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/backoff"
	"github.com/spillwayhq/spillway/shared/layout"
)

// Manifest states. A manifest that reaches done or aborted is deleted.
const (
	StateOpen    = "open"    // created, claims in progress
	StateClaimed = "claimed" // every staged object claimed
	StateSealed  = "sealed"  // sealed objects written under data/
	StateStored  = "stored"  // staged objects deleted; TD imports from the sealed objects go on
	StateDone    = "done"    // every TD endpoint imported (or parked) every sealed object
	StateAborted = "aborted" // lost a claim race, or a staged object is gone; claims being released
)

// stagedItem is a staged (or late) object item written by fanout.
type stagedItem struct {
	Key       string `dynamodbav:"sk"`
	Events    int64  `dynamodbav:"events"`
	Bytes     int64  `dynamodbav:"bytes"`
	HourUnix  int64  `dynamodbav:"hour_unix"`
	Late      bool   `dynamodbav:"late"`
	ClaimedBy string `dynamodbav:"claimed_by"`
	Created   int64  `dynamodbav:"created_at"`
}

// ManifestEntry is one claimed staged object in a manifest.
type ManifestEntry struct {
	Key    string `dynamodbav:"k" json:"k"`
	Events int64  `dynamodbav:"e" json:"e"`
	Bytes  int64  `dynamodbav:"b" json:"b"`
}

// manifestBody is the JSON of a manifest's body object
// (layout.ManifestKey): what the manifest claims, written once before its
// item, so that the item stays about 1 KB whatever the manifest holds and
// each of its writes costs about one write unit.
type manifestBody struct {
	Entries []ManifestEntry `json:"entries"`
}

// Manifest is one flush of one table: a small item in the manifests table
// (state, sealed partitions, progress per sink) and a body object in S3
// (the entries).
type Manifest struct {
	PK    string `dynamodbav:"pk"`
	ID    string `dynamodbav:"sk"`
	DB    string `dynamodbav:"db"`
	Table string `dynamodbav:"table"`
	State string `dynamodbav:"state"`
	// Entries are the staged objects m claims, read from its body object
	// when a state needs them (items written before the bodies hold them).
	Entries []ManifestEntry `dynamodbav:"entries,omitempty"`
	// Parts are the partition hours (unix) of the sealed objects in
	// order: sealed object n is layout.SealedKey of (DB, Table, Parts[n]),
	// ID and n.
	Parts []int64 `dynamodbav:"parts,omitempty"`
	// Sealed are the sealed object keys, formatted from Parts when the
	// item is read (items written before Parts hold them).
	Sealed []string `dynamodbav:"sealed,omitempty"`
	// Progress holds "<endpoint> <n>": the endpoint imported (or parked)
	// sealed objects 0 to n-1. Each record adds one element; the largest
	// n of an endpoint counts.
	Progress []string `dynamodbav:"progress,stringset,omitempty"`
	// Imports are per-object marks (importMark): Progress expanded when
	// the item is read, plus the marks of items written before Progress.
	Imports []string `dynamodbav:"imports,stringset,omitempty"`
	Created int64    `dynamodbav:"created_at"`
	// Updated is when a run last moved m on (a state change or a progress
	// record); see driven.
	Updated int64 `dynamodbav:"updated_at,omitempty"`
	Stored  int64 `dynamodbav:"stored_at,omitempty"` // when the sealed objects were complete in S3
	Retries int   `dynamodbav:"retries,omitempty"`   // failed import rounds so far
	RetryAt int64 `dynamodbav:"retry_at,omitempty"`  // no import round before this (unix), unless forced
}

// decodeManifest reads a manifest item: it formats the sealed keys from
// the parts and expands the progress into per-object marks.
func decodeManifest(item map[string]types.AttributeValue) (*Manifest, error) {
	var m Manifest
	if err := attributevalue.UnmarshalMap(item, &m); err != nil {
		return nil, err
	}
	if len(m.Sealed) == 0 {
		for n, hour := range m.Parts {
			m.Sealed = append(m.Sealed, layout.SealedKey(layout.Partition{DB: m.DB, Table: m.Table, Hour: hour}, m.ID, n))
		}
	}
	seen := make(map[string]bool, len(m.Imports))
	for _, mk := range m.Imports {
		seen[mk] = true
	}
	for _, p := range m.Progress {
		ep, n, err := parseMark(p)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", m.ID, err)
		}
		for i := range min(n, len(m.Sealed)) {
			if mk := importMark(ep, i); !seen[mk] {
				seen[mk] = true
				m.Imports = append(m.Imports, mk)
			}
		}
	}
	return &m, nil
}

// parseMark parses an importMark (or a Progress element): "<endpoint> <n>".
func parseMark(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return "", 0, fmt.Errorf("bad import mark %q", s)
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 {
		return "", 0, fmt.Errorf("bad import mark %q", s)
	}
	return s[:i], n, nil
}

// loadEntries reads m's entries from its body object when m's state needs
// them (every state before stored, and aborted) and m does not hold them.
// The body is deleted only once m is done or aborted (and has released its
// claims), just before its item: without a body, m is reloaded, and goes on
// from there with nothing to release when it is aborted or finished (a
// stale run's copy of a manifest another run finished).
func (h *Handler) loadEntries(ctx context.Context, m *Manifest) error {
	if m.Entries != nil || m.State == StateStored || m.State == StateDone {
		return nil
	}
	raw, err := h.get(ctx, layout.ManifestKey(m.DB, m.Table, m.ID))
	var nsk *s3types.NoSuchKey
	if errors.As(err, &nsk) {
		cur, gerr := h.getManifest(ctx, m.DB, m.Table, m.ID)
		if gerr != nil {
			return gerr
		}
		if cur.State == StateDone || cur.State == StateAborted || cur.State == StateStored {
			*m = *cur
			if m.Entries == nil {
				m.Entries = []ManifestEntry{}
			}
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("read the body of manifest %s: %w", m.ID, err)
	}
	var b manifestBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("decode the body of manifest %s: %w", m.ID, err)
	}
	m.Entries = b.Entries
	if m.Entries == nil {
		m.Entries = []ManifestEntry{}
	}
	return nil
}

func (h *Handler) openManifests(ctx context.Context, db, table string) ([]*Manifest, error) {
	var out []*Manifest
	p := dynamodb.NewQueryPaginator(h.ddb, &dynamodb.QueryInput{
		TableName: aws.String(h.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:   aws.String("pk = :pk"),
		FilterExpression:         aws.String("#s IN (:o, :c, :z, :st, :a)"),
		ExpressionAttributeNames: map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(layout.ManifestPK(db, table)),
			":o": str(StateOpen), ":c": str(StateClaimed), ":z": str(StateSealed), ":st": str(StateStored), ":a": str(StateAborted)},
	})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query manifests of %s.%s: %w", db, table, err)
		}
		for _, it := range pg.Items {
			m, err := decodeManifest(it)
			if err != nil {
				return nil, fmt.Errorf("decode manifest of %s.%s: %w", db, table, err)
			}
			out = append(out, m)
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

// due returns every unclaimed staged item, sorted by key: sealing is
// continuous, so whatever is committed is sealed now, whatever its hour. It
// notes the oldest item's commit time for the freshness metric.
func (h *Handler) due(items []stagedItem, run *runState) []ManifestEntry {
	out := make([]ManifestEntry, 0, len(items))
	for _, s := range items {
		out = append(out, ManifestEntry{Key: s.Key, Events: s.Events, Bytes: s.Bytes})
		if s.Created > 0 && (run.oldest == 0 || s.Created < run.oldest) {
			run.oldest = s.Created
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// createManifest creates a manifest of entries under a new id (see
// layout.NewManifestID): a run that read the same staged items creates its
// own, and the claims decide which one seals them. The entries go to the
// body object first, then the item (without them) is created: a run that
// finds the item finds its body. A crash between the two leaves a body no
// item names (a few KB, never read).
func (h *Handler) createManifest(ctx context.Context, db, table string, entries []ManifestEntry) (*Manifest, error) {
	now := h.now().Unix()
	m := &Manifest{PK: layout.ManifestPK(db, table), ID: layout.NewManifestID(), DB: db, Table: table, State: StateOpen, Created: now, Updated: now}
	item, err := attributevalue.MarshalMap(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	body, err := json.Marshal(manifestBody{Entries: entries})
	if err != nil {
		return nil, fmt.Errorf("encode manifest body: %w", err)
	}
	if err := h.put(ctx, layout.ManifestKey(db, table, m.ID), body); err != nil {
		return nil, fmt.Errorf("create manifest %s for %s.%s: %w", m.ID, db, table, err)
	}
	m.Entries = entries
	_, err = h.ddb.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(h.cfg.ManifestTable), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(sk)"),
	})
	if err != nil {
		return nil, fmt.Errorf("create manifest %s for %s.%s: %w", m.ID, db, table, err)
	}
	return m, h.point(ctx, "after-manifest")
}

func (h *Handler) getManifest(ctx context.Context, db, table, id string) (*Manifest, error) {
	res, err := h.ddb.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(h.cfg.ManifestTable), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{layout.AttrPK: str(layout.ManifestPK(db, table)), layout.AttrSK: str(id)},
	})
	if err != nil {
		return nil, fmt.Errorf("get manifest %s: %w", id, err)
	}
	if res.Item == nil {
		// Finished manifests are deleted: another run completed it.
		return &Manifest{PK: layout.ManifestPK(db, table), ID: id, DB: db, Table: table, State: StateDone}, nil
	}
	m, err := decodeManifest(res.Item)
	if err != nil {
		return nil, fmt.Errorf("decode manifest %s: %w", id, err)
	}
	return m, nil
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
		Key:                       map[string]types.AttributeValue{layout.AttrPK: str(m.PK), layout.AttrSK: str(m.ID)},
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
		if cur.Entries == nil {
			cur.Entries = m.Entries // immutable: no need to read the body again
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

// run drives a manifest on: claim, seal into data/, delete the staged
// objects (S3 is complete: the manifest is stored), import into every TD
// endpoint, delete the manifest. A failing endpoint does not hold up S3 or
// the other endpoints: the manifest stays stored, with a retry time, and
// its sealed objects stay in data/ for the endpoint's backlog.
func (h *Handler) run(ctx context.Context, m *Manifest, run *runState) error {
	var bodies map[string][]byte
	for {
		if err := h.loadEntries(ctx, m); err != nil {
			return err
		}
		switch m.State {
		case StateOpen:
			ok, err := h.claim(ctx, m)
			if err != nil {
				return err
			}
			if !ok {
				run.res.Aborted++
				return h.deleteManifest(ctx, m) // claim released m's claims
			}
			if m.State != StateOpen {
				// A racing run claimed m and moved it on (claim reloaded
				// it): carry on from there, never back to claimed.
				continue
			}
			if err := h.setState(ctx, m, StateClaimed, "", nil); err != nil {
				return err
			}
			if err := h.point(ctx, "after-claim"); err != nil {
				return err
			}
		case StateClaimed:
			objs, b, err := h.seal(ctx, m)
			var nsk *s3types.NoSuchKey
			if errors.As(err, &nsk) {
				// A racing run that sealed m deleted its staged objects:
				// go on from where that run left m.
				cur, gerr := h.getManifest(ctx, m.DB, m.Table, m.ID)
				if gerr != nil {
					return gerr
				}
				if cur.State != StateClaimed {
					cur.Entries = m.Entries
					*m = *cur
					continue
				}
				// No run sealed m, and none can: give it up.
				if err := h.giveUp(ctx, m, run); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			bodies = b
			parts, err := sealedParts(m, objs)
			if err != nil {
				return err
			}
			lv, err := attributevalue.Marshal(parts)
			if err != nil {
				return fmt.Errorf("encode sealed parts of manifest %s: %w", m.ID, err)
			}
			if err := h.setState(ctx, m, StateSealed, ", parts = :parts", map[string]types.AttributeValue{":parts": lv}); err != nil {
				return err
			}
			if m.Sealed == nil {
				m.Sealed = objs
			}
			if err := h.point(ctx, "after-seal"); err != nil {
				return err
			}
		case StateSealed:
			if err := h.point(ctx, "before-delete"); err != nil {
				return err
			}
			if err := h.finish(ctx, m); err != nil {
				return err
			}
			if err := h.point(ctx, "after-delete"); err != nil {
				return err
			}
			if err := h.setState(ctx, m, StateStored, ", stored_at = :now", nil); err != nil {
				return err
			}
			if m.Stored == 0 {
				m.Stored = h.now().Unix()
			}
			for _, e := range m.Entries {
				run.res.Events += e.Events
				run.res.Bytes += e.Bytes
			}
			run.res.SealedObjects += len(m.Sealed)
		case StateStored:
			if !run.force && m.RetryAt > h.now().Unix() {
				run.res.Waiting++
				h.noteBacklog(m, run)
				return nil
			}
			err := h.importAll(ctx, m, bodies, run)
			if errors.Is(err, errFinished) {
				return nil // a racing run finished m
			}
			if err != nil {
				h.noteBacklog(m, run)
				return h.retryLater(ctx, m, err)
			}
			if err := h.setState(ctx, m, StateDone, ", done_at = :now", nil); err != nil {
				return err
			}
		case StateAborted:
			// Resumed: the claims m may still hold go back to the table.
			if err := h.release(ctx, m, m.Entries); err != nil {
				return err
			}
			return h.deleteManifest(ctx, m)
		case StateDone:
			return h.deleteManifest(ctx, m)
		default:
			return fmt.Errorf("manifest %s: unknown state %q", m.ID, m.State)
		}
	}
}

// giveUp ends a claimed manifest one of whose staged objects is gone
// although no run sealed it (deleted outside the pipeline, or a manifest
// left so by the deterministic manifest ids of earlier versions). The item
// of each missing object is deleted (while m claims it: nothing can seal
// its events any more; logged and counted as Missing), then m is aborted,
// and run releases its other claims, so that a new manifest seals those
// objects once. A racing run of m cannot have sealed it meanwhile (it could
// not read the missing object either); setState reloads m if one moved it
// on. Every step is idempotent: a crash leaves m claimed (giveUp again) or
// aborted (resumed by release).
func (h *Handler) giveUp(ctx context.Context, m *Manifest, run *runState) error {
	for _, e := range m.Entries {
		_, err := h.get(ctx, e.Key)
		var nsk *s3types.NoSuchKey
		if !errors.As(err, &nsk) {
			if err != nil {
				return err
			}
			continue // still there: released with m's other claims
		}
		dropped, err := h.dropClaimed(ctx, m, e.Key)
		if err != nil {
			return fmt.Errorf("delete staged item %s of a missing object: %w", e.Key, err)
		}
		if dropped {
			run.res.Missing++
			h.log.ErrorContext(ctx, "staged object missing under a claimed manifest: its item is dropped, its events cannot be sealed",
				"db", m.DB, "table", m.Table, "manifest", m.ID, "key", e.Key, "events", e.Events)
		}
	}
	return h.setState(ctx, m, StateAborted, "", nil)
}

// errFinished reports that a racing run finished (and deleted) the
// manifest this run was driving.
var errFinished = errors.New("manifest finished by another run")

// retryLater records a failed import round of m and when the next may run:
// 15 s doubling per round, at most 10 minutes. It returns cause.
func (h *Handler) retryLater(ctx context.Context, m *Manifest, cause error) error {
	wait := min(15*time.Second<<min(m.Retries, 10), 10*time.Minute)
	at := h.now().Add(wait).Unix()
	_, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.cfg.ManifestTable),
		Key:                       map[string]types.AttributeValue{layout.AttrPK: str(m.PK), layout.AttrSK: str(m.ID)},
		UpdateExpression:          aws.String("SET retry_at = :at, last_error = :e ADD retries :one"),
		ConditionExpression:       aws.String("#s = :stored"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": num(at), ":e": str(clip(cause.Error())), ":one": num(1), ":stored": str(StateStored)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return errors.Join(cause, fmt.Errorf("record retry of manifest %s: %w", m.ID, err))
	}
	return cause
}

// sealedParts returns the partition hours of m's sealed objects keys, in
// order (Manifest.Parts), checking that each is m's n-th object.
func sealedParts(m *Manifest, keys []string) ([]int64, error) {
	parts := make([]int64, len(keys))
	for n, k := range keys {
		o, err := layout.ParseSealedKey(k)
		if err != nil {
			return nil, err
		}
		if o.Partition.DB != m.DB || o.Partition.Table != m.Table || o.ManifestID != m.ID || o.N != n {
			return nil, fmt.Errorf("manifest %s of %s.%s: sealed object %d is %s", m.ID, m.DB, m.Table, n, k)
		}
		parts[n] = o.Partition.Hour
	}
	return parts, nil
}

// deleteManifest deletes a finished (done or aborted) manifest, so that a
// table's live manifests stay few whatever its history: its body object
// first (an aborted manifest has released its claims by then, and nothing
// reads a done one's), then its item.
func (h *Handler) deleteManifest(ctx context.Context, m *Manifest) error {
	if err := h.deleteObjects(ctx, []string{layout.ManifestKey(m.DB, m.Table, m.ID)}); err != nil {
		return fmt.Errorf("delete the body of finished manifest %s: %w", m.ID, err)
	}
	_, err := h.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(h.cfg.ManifestTable),
		Key:                       map[string]types.AttributeValue{layout.AttrPK: str(m.PK), layout.AttrSK: str(m.ID)},
		ConditionExpression:       aws.String("#s IN (:d, :a)"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": str(StateDone), ":a": str(StateAborted)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("delete finished manifest %s: %w", m.ID, err)
	}
	return nil
}

// clearRequest takes the table's flush request (see fanout): it removes
// the pending request and the first commit time and records that a flush
// took the table now, so that a commit from now on starts a new cycle.
func (h *Handler) clearRequest(ctx context.Context, db, table string) error {
	_, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.cfg.ManifestTable),
		Key:                       map[string]types.AttributeValue{layout.AttrPK: str(layout.RequestPK(db, table)), layout.AttrSK: str(layout.FlushRequestSK)},
		UpdateExpression:          aws.String("SET flushed_at = :now REMOVE first_at, requested_at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(h.now().Unix())},
	})
	if err != nil {
		return fmt.Errorf("clear flush request of %s.%s: %w", db, table, err)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 1000 {
		return s[:1000]
	}
	return s
}

// claim marks every entry claimed by m, one conditional UpdateItem each
// (one write unit; a transaction costs two per item): the first entry
// (the lowest key) alone, then the others itemWindow at a time. Racing
// manifests of the same keys share their first key, so the first to claim
// it wins every other and the losers claim nothing more; manifests that
// overlap otherwise may both lose an item, and a manifest that loses one
// releases what it claimed, so none of them needs a batch to be atomic (a
// crash leaves m open with some entries claimed, and any resume claims
// again: claiming what m holds is a no-op). On a lost race (an item
// claimed by another manifest, or gone) it releases m's claims, marks m
// aborted and reports false - unless the abort finds that a racing run of
// m itself claimed it and moved it on: then m is reloaded and claim
// reports true, and the caller goes on from m's new state. (Claims one
// after another cost a manifest of 300 staged objects 300 round trips: on
// moto that held the default setting's freshness p99 at 110 s.)
func (h *Handler) claim(ctx context.Context, m *Manifest) (bool, error) {
	if len(m.Entries) == 0 {
		return true, nil
	}
	lost, err := h.claimOne(ctx, m, m.Entries[0])
	if err != nil {
		return false, err
	}
	if lost == "" {
		var mu sync.Mutex
		err = forEachEntry(ctx, m.Entries[1:], func(ctx context.Context, e ManifestEntry) error {
			l, err := h.claimOne(ctx, m, e)
			if l != "" {
				mu.Lock()
				lost = l
				mu.Unlock()
			}
			return err
		})
		if err != nil {
			return false, err
		}
	}
	if lost == "" {
		return true, nil
	}
	h.log.InfoContext(ctx, "claim lost, aborting manifest", "db", m.DB, "table", m.Table, "manifest", m.ID, "key", lost)
	if lost != m.Entries[0].Key {
		// Lost past the first entry: m may hold any of the others.
		if err := h.release(ctx, m, m.Entries); err != nil {
			return false, err
		}
	}
	if err := h.setState(ctx, m, StateAborted, "", nil); err != nil {
		return false, err
	}
	return m.State != StateAborted && m.State != StateOpen, nil
}

// claimOne claims e's staged item for m; it returns e's key when the item
// is claimed by another manifest or gone (the claim is lost).
func (h *Handler) claimOne(ctx context.Context, m *Manifest, e ManifestEntry) (string, error) {
	err := retryConflicts(ctx, func() error {
		_, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(h.cfg.ManifestTable),
			Key:                       map[string]types.AttributeValue{layout.AttrPK: str(layout.StagedPK(m.DB, m.Table)), layout.AttrSK: str(e.Key)},
			UpdateExpression:          aws.String("SET claimed_by = :m"),
			ConditionExpression:       aws.String("attribute_exists(pk) AND (attribute_not_exists(claimed_by) OR claimed_by = :m)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":m": str(m.ID)},
		})
		return err
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return e.Key, nil
	}
	if err != nil {
		return "", fmt.Errorf("claim staged object %s for manifest %s: %w", e.Key, m.ID, err)
	}
	return "", nil
}

// forEachEntry calls f for every entry, itemWindow at a time; the first
// error cancels the rest and is returned.
func forEachEntry(ctx context.Context, entries []ManifestEntry, f func(context.Context, ManifestEntry) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(itemWindow)
	for _, e := range entries {
		g.Go(func() error { return f(gctx, e) })
	}
	return g.Wait()
}

// release removes m's claim from entries (those it still holds).
func (h *Handler) release(ctx context.Context, m *Manifest, entries []ManifestEntry) error {
	return forEachEntry(ctx, entries, func(ctx context.Context, r ManifestEntry) error {
		_, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(h.cfg.ManifestTable),
			Key:                       map[string]types.AttributeValue{layout.AttrPK: str(layout.StagedPK(m.DB, m.Table)), layout.AttrSK: str(r.Key)},
			UpdateExpression:          aws.String("REMOVE claimed_by"),
			ConditionExpression:       aws.String("claimed_by = :m"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":m": str(m.ID)},
		})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return fmt.Errorf("release claim %s: %w", r.Key, err)
		}
		return nil
	})
}

// retryConflicts calls f again while it fails with
// TransactionConflictException (a single-item write on an item another
// transaction holds), up to awsconf.ConflictAttempts calls with
// awsconf.ConflictBackoff between them.
func retryConflicts(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		var tce *types.TransactionConflictException
		if !errors.As(err, &tce) || attempt >= awsconf.ConflictAttempts-1 {
			return err
		}
		if err := backoff.Sleep(ctx, awsconf.ConflictBackoff(attempt)); err != nil {
			return err
		}
	}
}

// finish deletes m's staged objects (DeleteObjects, up to 1,000 per call)
// and items, each with a conditional DeleteItem (only while m claims it:
// one write unit, where a transaction costs two; no atomicity is needed,
// an item a concurrent resume of m deleted first fails its condition),
// itemWindow at a time: the sealed objects hold their events from now
// on.
func (h *Handler) finish(ctx context.Context, m *Manifest) error {
	keys := make([]string, len(m.Entries))
	for i, e := range m.Entries {
		keys[i] = e.Key
	}
	if err := h.deleteObjects(ctx, keys); err != nil {
		return fmt.Errorf("delete staged objects of manifest %s: %w", m.ID, err)
	}
	return forEachEntry(ctx, m.Entries, func(ctx context.Context, e ManifestEntry) error {
		if _, err := h.dropClaimed(ctx, m, e.Key); err != nil {
			return fmt.Errorf("delete staged item %s: %w", e.Key, err)
		}
		return nil
	})
}

// itemWindow is how many staged items claim, release and finish write at
// once.
const itemWindow = 16

// dropClaimed deletes the staged item of key while m claims it, retrying
// TransactionConflict (an item a racing run's transaction holds answers it,
// possibly beyond the SDK's retries). It reports whether it deleted the
// item (false: it was gone or not m's).
func (h *Handler) dropClaimed(ctx context.Context, m *Manifest, key string) (bool, error) {
	err := retryConflicts(ctx, func() error {
		_, err := h.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(h.cfg.ManifestTable),
			Key:                       map[string]types.AttributeValue{layout.AttrPK: str(layout.StagedPK(m.DB, m.Table)), layout.AttrSK: str(key)},
			ConditionExpression:       aws.String("claimed_by = :m"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":m": str(m.ID)},
		})
		return err
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	return err == nil, err
}

// deleteObjects deletes keys from the bucket, up to 1,000 per
// DeleteObjects call; a key already gone is no error.
func (h *Handler) deleteObjects(ctx context.Context, keys []string) error {
	for i := 0; i < len(keys); i += 1000 {
		batch := keys[i:min(i+1000, len(keys))]
		ids := make([]s3types.ObjectIdentifier, len(batch))
		for j, k := range batch {
			ids[j] = s3types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := h.s3.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(h.cfg.Bucket), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete s3://%s/%s: %s: %s (and %d more)", h.cfg.Bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1)
		}
	}
	return nil
}
