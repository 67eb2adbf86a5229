package lambdarun

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Runtime API paths (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	pathNext      = "/2018-06-01/runtime/invocation/next"
	pathResponse  = "/2018-06-01/runtime/invocation/{id}/response"
	pathError     = "/2018-06-01/runtime/invocation/{id}/error"
	pathInitError = "/2018-06-01/runtime/init/error"
)

func (e *environment) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathNext, e.handleNext)
	mux.HandleFunc("POST "+pathResponse, e.handleResponse)
	mux.HandleFunc("POST "+pathError, e.handleError)
	mux.HandleFunc("POST "+pathInitError, e.handleInitError)
	return mux
}

// handleNext blocks until an invocation is dispatched to this environment.
func (e *environment) handleNext(w http.ResponseWriter, req *http.Request) {
	e.mu.Lock()
	if !e.isReady && e.ready != nil {
		e.isReady = true
		close(e.ready)
		d := time.Since(e.started)
		e.r.coldStarts.Add(1)
		e.r.coldTotal.Add(int64(d))
		e.r.initMs.Add(billedMs(d))
		e.r.lastCold.Store(int64(d))
		e.r.log.Info("cold start", "env", e.idx, "init_duration_ms", ms(d))
	}
	e.mu.Unlock()
	select {
	case inv := <-e.next:
		inv.deadline = time.Now().Add(e.r.cfg.Timeout)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", e.r.FunctionARN())
		h.Set("Lambda-Runtime-Trace-Id", newTraceID(time.Now()))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-req.Context().Done():
	}
}

func (e *environment) take(id string) *invocation {
	e.mu.Lock()
	defer e.mu.Unlock()
	inv := e.inflight[id]
	delete(e.inflight, id)
	return inv
}

func (e *environment) handleResponse(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxSyncPayload+1))
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "InvalidRequest", "read response body: "+err.Error())
		return
	}
	inv := e.take(req.PathValue("id"))
	if inv == nil {
		writeStatus(w, http.StatusBadRequest, "InvalidRequestID", "unknown or already answered request id")
		return
	}
	inv.done <- result{body: body}
	writeStatus(w, http.StatusAccepted, "", "")
}

func (e *environment) handleError(w http.ResponseWriter, req *http.Request) {
	fe := readFunctionError(req)
	inv := e.take(req.PathValue("id"))
	if inv == nil {
		writeStatus(w, http.StatusBadRequest, "InvalidRequestID", "unknown or already answered request id")
		return
	}
	inv.done <- result{err: fe}
	writeStatus(w, http.StatusAccepted, "", "")
}

func (e *environment) handleInitError(w http.ResponseWriter, req *http.Request) {
	fe := readFunctionError(req)
	e.mu.Lock()
	e.initErr = fe
	e.mu.Unlock()
	e.r.log.Error("init error", "env", e.idx, "type", fe.Type, "message", fe.Message)
	writeStatus(w, http.StatusAccepted, "", "")
}

// readFunctionError decodes an error document leniently: a body that is
// not the documented JSON becomes the message.
func readFunctionError(req *http.Request) *FunctionError {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	var doc struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	fe := &FunctionError{}
	if err := json.Unmarshal(body, &doc); err == nil && (doc.Message != "" || doc.Type != "") {
		fe.Message, fe.Type = doc.Message, doc.Type
		fe.Payload = body
	} else {
		fe.Message = string(body)
	}
	if fe.Type == "" {
		fe.Type = req.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	if fe.Payload == nil {
		fe.Payload = errorPayload(fe.Type, fe.Message)
	}
	return fe
}

func errorPayload(typ, msg string) []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{msg, typ})
	return b
}

func writeStatus(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if typ == "" {
		_, _ = io.WriteString(w, `{"status":"OK"}`)
		return
	}
	_, _ = w.Write(errorPayload(typ, msg))
}

// syncWriter serialises writes from several processes' output copiers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
