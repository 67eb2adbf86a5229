package edge

import (
	"net/http"
	"sort"
	"sync"
)

// CallCount is what the edge saw of one service's operation: requests and
// their request and response body bytes (the figures AWS prices by, before
// each service's own units).
type CallCount struct {
	Service       string `json:"service"`
	Operation     string `json:"operation"`
	Requests      int64  `json:"requests"`
	RequestBytes  int64  `json:"request_bytes"`
	ResponseBytes int64  `json:"response_bytes"`
}

// callCounter counts every AWS request the edge serves, faults and
// refusals included (AWS counts a throttled request too).
type callCounter struct {
	mu sync.Mutex
	m  map[[2]string]*CallCount
}

func (cc *callCounter) add(service, op string, reqBytes, respBytes int64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil {
		cc.m = map[[2]string]*CallCount{}
	}
	k := [2]string{service, op}
	c := cc.m[k]
	if c == nil {
		c = &CallCount{Service: service, Operation: op}
		cc.m[k] = c
	}
	c.Requests++
	c.RequestBytes += reqBytes
	c.ResponseBytes += respBytes
}

func (cc *callCounter) snapshot() []CallCount {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	out := make([]CallCount, 0, len(cc.m))
	for _, c := range cc.m {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Operation < out[j].Operation
	})
	return out
}

func (cc *callCounter) reset() {
	cc.mu.Lock()
	cc.m = nil
	cc.mu.Unlock()
}

// Calls returns the requests the edge has served since start (or the last
// ResetCalls), by service and operation, sorted.
func (s *Server) Calls() []CallCount { return s.calls.snapshot() }

// ResetCalls zeroes the call counts.
func (s *Server) ResetCalls() { s.calls.reset() }

// countingWriter counts the response body bytes written through it.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// Flush passes through to the underlying writer (streamed responses).
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
