package edge

import (
	"bytes"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// CallCount is what the edge saw of one service's operation on one
// resource (see s3Resource and ddbResource; "" where not told): requests,
// their request and response body bytes, and the units AWS bills them in
// (BillingUnits; the figures AWS prices by).
type CallCount struct {
	Service       string `json:"service"`
	Operation     string `json:"operation"`
	Resource      string `json:"resource,omitempty"`
	Requests      int64  `json:"requests"`
	RequestBytes  int64  `json:"request_bytes"`
	ResponseBytes int64  `json:"response_bytes"`
	BillingUnits
}

// Since returns c less an earlier count of the same operation.
func (c CallCount) Since(earlier CallCount) CallCount {
	c.Requests -= earlier.Requests
	c.RequestBytes -= earlier.RequestBytes
	c.ResponseBytes -= earlier.ResponseBytes
	c.BillingUnits.Sub(earlier.BillingUnits)
	return c
}

// callCounter counts every AWS request the edge serves, faults and
// refusals included (AWS counts a throttled request too), by caller (the
// SigV4 access key id), service, operation and resource.
//
// A request is counted when its handler returns, which can be after its
// client has read the whole response (the proxy flushes as it copies). So
// the counter also tracks responses that have started but are not counted
// yet, and a snapshot waits for them (at most settleWait): whatever a
// client has seen answered before it asks for the counts is in them.
type callCounter struct {
	mu      sync.Mutex
	settled *sync.Cond
	m       map[callKey]*CallCount
	open    int
}

// callKey is a count's caller, service, operation and resource.
type callKey struct{ caller, service, op, resource string }

// settleWait bounds how long a snapshot waits for started responses to be
// counted (a stuck handler must not hang the control endpoint).
const settleWait = 5 * time.Second

// responding records that a request's response has started.
func (cc *callCounter) responding() {
	cc.mu.Lock()
	cc.open++
	cc.mu.Unlock()
}

// add counts one request; started says whether responding was called for it.
func (cc *callCounter) add(k callKey, reqBytes, respBytes int64, units BillingUnits, started bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if started {
		cc.open--
		if cc.open == 0 && cc.settled != nil {
			cc.settled.Broadcast()
		}
	}
	if cc.m == nil {
		cc.m = map[callKey]*CallCount{}
	}
	c := cc.m[k]
	if c == nil {
		c = &CallCount{Service: k.service, Operation: k.op, Resource: k.resource}
		cc.m[k] = c
	}
	c.Requests++
	c.RequestBytes += reqBytes
	c.ResponseBytes += respBytes
	c.BillingUnits.Add(units)
}

// snapshot sums the counts of every caller, or of one when only is true,
// by service and operation, and by resource too when byResource is true.
func (cc *callCounter) snapshot(caller string, only, byResource bool) []CallCount {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.settle()
	byOp := map[callKey]*CallCount{}
	for k, c := range cc.m {
		if only && k.caller != caller {
			continue
		}
		k.caller = ""
		if !byResource {
			k.resource = ""
		}
		sum := byOp[k]
		if sum == nil {
			sum = &CallCount{Service: c.Service, Operation: c.Operation, Resource: k.resource}
			byOp[k] = sum
		}
		sum.Requests += c.Requests
		sum.RequestBytes += c.RequestBytes
		sum.ResponseBytes += c.ResponseBytes
		sum.BillingUnits.Add(c.BillingUnits)
	}
	out := make([]CallCount, 0, len(byOp))
	for _, c := range byOp {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		if out[i].Operation != out[j].Operation {
			return out[i].Operation < out[j].Operation
		}
		return out[i].Resource < out[j].Resource
	})
	return out
}

// settle waits, with cc.mu held, until every started response is counted
// or settleWait has passed.
func (cc *callCounter) settle() {
	if cc.open == 0 {
		return
	}
	if cc.settled == nil {
		cc.settled = sync.NewCond(&cc.mu)
	}
	timedOut := false
	t := time.AfterFunc(settleWait, func() {
		cc.mu.Lock()
		timedOut = true
		cc.settled.Broadcast()
		cc.mu.Unlock()
	})
	defer t.Stop()
	for cc.open > 0 && !timedOut {
		cc.settled.Wait()
	}
}

func (cc *callCounter) reset() {
	cc.mu.Lock()
	cc.settle()
	cc.m = nil
	cc.mu.Unlock()
}

// Calls returns the requests the edge has served since start (or the last
// ResetCalls), by service and operation, sorted.
func (s *Server) Calls() []CallCount { return s.calls.snapshot("", false, false) }

// CallsBy returns the requests signed with one access key id (a caller):
// a harness that signs its own reads with another key keeps them out of
// what it measures.
func (s *Server) CallsBy(accessKeyID string) []CallCount {
	return s.calls.snapshot(accessKeyID, true, false)
}

// CallsByResource returns CallsBy's requests split by the resource they
// addressed (CallCount.Resource), so that a cost model can tell what each
// call grows with.
func (s *Server) CallsByResource(accessKeyID string) []CallCount {
	return s.calls.snapshot(accessKeyID, true, true)
}

// ResetCalls zeroes the call counts.
func (s *Server) ResetCalls() { s.calls.reset() }

// Mark logs a line ("mark", label and attrs) among the calls that
// Config.TraceCalls logs, so that a reader of the log can count the calls
// between two marks (spillway cost marks its windows' boundaries).
func (s *Server) Mark(label string, attrs ...any) {
	if s.cfg.TraceCalls {
		s.log.Info("mark", append([]any{"label", label}, attrs...)...)
	}
}

// countingWriter counts the response body bytes written through it, and
// keeps the status and, when capture is set, the body (for billing units).
type countingWriter struct {
	http.ResponseWriter
	n       int64
	status  int
	capture *bytes.Buffer
	// calls, when set, is told when the response starts.
	calls   *callCounter
	started bool
}

func (w *countingWriter) start() {
	if !w.started && w.calls != nil {
		w.started = true
		w.calls.responding()
	}
}

func (w *countingWriter) WriteHeader(code int) {
	w.start()
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.start()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	if w.capture != nil && w.capture.Len() < 4*maxBufferedBody {
		w.capture.Write(p[:n])
	}
	return n, err
}

// accessKeyID returns the access key id of a SigV4 Authorization header
// (or a presigned URL's X-Amz-Credential), or "".
func accessKeyID(r *http.Request) string {
	s := r.Header.Get("Authorization")
	if i := strings.Index(s, "Credential="); i >= 0 {
		s = s[i+len("Credential="):]
	} else {
		s = r.URL.Query().Get("X-Amz-Credential")
	}
	id, _, _ := strings.Cut(s, "/")
	return id
}

// Flush passes through to the underlying writer (streamed responses).
func (w *countingWriter) Flush() {
	w.start()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
