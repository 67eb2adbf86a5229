package flush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// Sink is one TD import endpoint.
type Sink struct {
	Endpoint string   // base URL; names the sink in manifests and failed/ keys
	Client   Importer // client for that endpoint
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

// importAll imports m's sealed objects into every endpoint that has not
// taken them yet. Endpoints are independent: one that fails is left at its
// first failing object (its backlog keeps its order) and the others go on.
// Content errors (400/413/415/422) park the object under failed/ with the
// response; everything else (5xx, 429, 401/403, a 404 that creating the
// database and table did not cure) is returned for a later retry.
func (h *Handler) importAll(ctx context.Context, m *Manifest, bodies map[string][]byte, run *runState) error {
	done := map[string]bool{}
	for _, s := range m.Imports {
		done[s] = true
	}
	var errs []error
	for _, sink := range h.sinks {
		imp := h.importSink
		if sink.Endpoint == LakeSink && h.lake != nil {
			imp = h.importLake
		}
		if err := imp(ctx, sink, m, bodies, done, run); err != nil {
			if errors.Is(err, errFault) || errors.Is(err, errFinished) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// markEvery bounds how many sealed objects an endpoint imports between two
// records of its progress: a crash makes a resume import at most that many
// again (the endpoint keeps one copy per unique_id), and a manifest of up
// to markEvery objects costs one record per endpoint.
const markEvery = 100

func (h *Handler) importSink(ctx context.Context, sink Sink, m *Manifest, bodies map[string][]byte, done map[string]bool, run *runState) (err error) {
	pending := 0 // sealed objects 0 to pending-1 are imported, some not recorded yet
	recorded := 0
	record := func() error {
		if pending == recorded {
			return nil
		}
		if err := h.recordProgress(ctx, m, sink.Endpoint, pending); err != nil {
			return err
		}
		recorded = pending
		return nil
	}
	defer func() {
		// An import error still records the objects imported before it
		// (a fault point stands for a crash: nothing more is written).
		if !errors.Is(err, errFault) && !errors.Is(err, errFinished) {
			err = errors.Join(err, record())
		}
	}()
	for n, k := range m.Sealed {
		mark := importMark(sink.Endpoint, n)
		if done[mark] {
			continue
		}
		body, err := h.sealedBody(ctx, bodies, k)
		if err != nil {
			return err
		}
		uid := ImportID(m.ID, n)
		_, err = sink.Client.ImportWithID(ctx, m.DB, m.Table, uid, body)
		if tdimport.IsNotFound(err) {
			if err = sink.Client.CreateDatabase(ctx, m.DB); err == nil {
				if err = sink.Client.CreateTable(ctx, m.DB, m.Table); err == nil {
					_, err = sink.Client.ImportWithID(ctx, m.DB, m.Table, uid, body)
				}
			}
		}
		if err != nil && tdimport.IsContentError(err) {
			if perr := h.park(ctx, sink.Endpoint, m, uid, k, err); perr != nil {
				return perr
			}
			run.res.Parked++
			err = nil
		}
		if err != nil {
			if tdimport.IsAuthError(err) {
				h.log.ErrorContext(ctx, "TD endpoint refused the API key; will retry", "endpoint", sink.Endpoint, "db", m.DB, "table", m.Table, "unique_id", uid, "err", err)
			}
			return fmt.Errorf("import %s into %s.%s at %s: %w", uid, m.DB, m.Table, sink.Endpoint, err)
		}
		done[mark] = true
		m.Imports = append(m.Imports, mark)
		if pending = n + 1; pending-recorded >= markEvery {
			if err := record(); err != nil {
				return err
			}
		}
		if err := h.point(ctx, "after-td-import"); err != nil {
			return err
		}
	}
	return nil
}

// sealedBody returns sealed object k: from bodies (what this run sealed and
// kept) or read back from data/.
func (h *Handler) sealedBody(ctx context.Context, bodies map[string][]byte, k string) ([]byte, error) {
	if body, ok := bodies[k]; ok {
		return body, nil
	}
	return h.get(ctx, k)
}

// recordProgress records that endpoint imported m's sealed objects 0 to
// n-1 (one element added to m's progress set: one write unit, the item
// being small), only while m is live: a racing run that finished it
// deleted it, and an unconditional ADD would create a stateless item
// (errFinished then).
func (h *Handler) recordProgress(ctx context.Context, m *Manifest, endpoint string, n int) error {
	_, err := h.ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.cfg.ManifestTable),
		Key:                       map[string]types.AttributeValue{layout.AttrPK: str(m.PK), layout.AttrSK: str(m.ID)},
		UpdateExpression:          aws.String("ADD progress :p SET updated_at = :now"),
		ConditionExpression:       aws.String("#s = :stored"),
		ExpressionAttributeNames:  map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberSS{Value: []string{importMark(endpoint, n)}}, ":stored": str(StateStored), ":now": num(h.now().Unix())},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return errFinished
	}
	if err != nil {
		return fmt.Errorf("record the progress of %s at %s (%d objects): %w", m.ID, endpoint, n, err)
	}
	return nil
}

// importMark is "<endpoint> <n>": sealed object n imported at endpoint
// (in Manifest.Imports), or objects 0 to n-1 (in Manifest.Progress).
func importMark(endpoint string, n int) string { return endpoint + " " + strconv.Itoa(n) }

// noteBacklog records, per endpoint that has not imported all of m, how
// old m's sealed objects are (for the OldestUnimportedSeconds metric).
func (h *Handler) noteBacklog(m *Manifest, run *runState) {
	done := map[string]bool{}
	for _, s := range m.Imports {
		done[s] = true
	}
	at := m.Stored
	if at == 0 {
		at = m.Created
	}
	for _, sink := range h.sinks {
		for n := range m.Sealed {
			if !done[importMark(sink.Endpoint, n)] {
				if old, ok := run.backlog[sink.Endpoint]; !ok || at < old {
					run.backlog[sink.Endpoint] = at
				}
				break
			}
		}
	}
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
