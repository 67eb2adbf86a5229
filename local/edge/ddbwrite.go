package edge

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"
)

// msgTransactionOngoing is AWS's message for a write that meets an item
// held by an in-flight transaction.
const msgTransactionOngoing = "Transaction is ongoing for the item"

// holds are the items in-flight transactions hold: from the moment the edge
// receives a TransactWriteItems until the backend has answered it (including
// the time it waits for its turn at moto), as DynamoDB holds them while a
// transaction runs.
type holds struct {
	mu   sync.Mutex
	held map[string]bool
}

// acquire holds every id, or none: it returns the indexes of ids another
// transaction holds.
func (h *holds) acquire(ids []string) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var busy []int
	for i, id := range ids {
		if id != "" && h.held[id] {
			busy = append(busy, i)
		}
	}
	if busy != nil {
		return busy
	}
	if h.held == nil {
		h.held = map[string]bool{}
	}
	for _, id := range ids {
		if id != "" {
			h.held[id] = true
		}
	}
	return nil
}

func (h *holds) release(ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range ids {
		delete(h.held, id)
	}
}

func (h *holds) isHeld(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held[id]
}

// serveDDBWrite answers one DynamoDB write: AWS's limits, then transaction
// conflicts against the items in-flight transactions hold, then the backend
// under the DynamoDB write mutex (moto's TransactWriteItems snapshots and
// restores whole tables, so no other write may run beside it). latency (a
// fault's) is added while the write holds its items.
func (s *Server) serveDDBWrite(w http.ResponseWriter, r *http.Request, c Call, latency time.Duration) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody+1))
	if err != nil || len(body) > maxBufferedBody {
		ddbError(w, ddbValidation, "spillway edge: request body unreadable or larger than 16 MiB", nil)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	beh := s.AWSBehaviours()
	wr, perr := parseDDBWrite(c.Operation, body)
	if perr == nil && !beh.NoDynamoDBLimits {
		if le := s.checkDDBLimits(r, c, wr); le != nil {
			s.log.Info("dynamodb limit", "operation", c.Operation, "error", le.String())
			le.answer(w, wr)
			return
		}
	}
	if perr == nil && !beh.NoTransactionConflicts && c.Operation != "BatchWriteItem" {
		ids := s.itemIDs(r, c, wr)
		switch c.Operation {
		case "TransactWriteItems":
			if busy := s.holds.acquire(ids); busy != nil {
				reasons := map[int]cancellationReason{}
				for _, i := range busy {
					reasons[i] = cancellationReason{Code: "TransactionConflict", Message: msgTransactionOngoing}
				}
				s.log.Info("dynamodb transaction conflict", "operation", c.Operation, "conflicts", len(busy))
				s.faults.add(counterKey(c, "TransactionConflict"), 1)
				cancelled(w, len(wr.actions), reasons)
				return
			}
			defer s.holds.release(ids)
		default:
			if len(ids) == 1 && ids[0] != "" && s.holds.isHeld(ids[0]) {
				s.log.Info("dynamodb transaction conflict", "operation", c.Operation)
				s.faults.add(counterKey(c, "TransactionConflictException"), 1)
				ddbError(w, ddbTransactionConflict, msgTransactionOngoing, nil)
				return
			}
		}
	}
	if hook := s.inFlight.Load(); hook != nil {
		(*hook)(c.Operation)
	}
	if !sleepCtx(r.Context(), latency) {
		return
	}
	mu := s.writeMu["dynamodb"]
	mu.Lock()
	defer mu.Unlock()
	s.proxyFor(c).ServeHTTP(w, r)
}

// itemIDs names the item of each action ("" where it cannot be told: no
// table, or a table the backend does not know).
func (s *Server) itemIDs(r *http.Request, c Call, wr ddbWrite) []string {
	region := scopeRegion(r.Header.Get("Authorization"))
	ids := make([]string, len(wr.actions))
	for i, a := range wr.actions {
		if a.table == "" {
			continue
		}
		key := a.key
		if a.put != nil {
			ks, err := s.tableKeys(r, c, a.table)
			if err != nil {
				continue
			}
			key = ks.keyOf(a.put)
		}
		if len(key) == 0 {
			continue
		}
		ids[i] = itemID(region, a.table, key)
	}
	return ids
}
