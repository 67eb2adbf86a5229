package tdtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// FailNext makes the next n authenticated API requests fail with status
// (500 or 429, say); retryAfter, when positive, is sent as Retry-After in
// whole seconds (at least 1).
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	s.failLeft, s.failStatus, s.failAfter = n, status, retryAfter
}

// Failures is the number of failures injected so far.
func (s *Server) Failures() int {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failures
}

func (s *Server) injectFailure(w http.ResponseWriter) bool {
	s.failMu.Lock()
	if s.failLeft <= 0 {
		s.failMu.Unlock()
		return false
	}
	s.failLeft--
	s.failures++
	status, after := s.failStatus, s.failAfter
	s.failMu.Unlock()
	if after > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((after+time.Second-1)/time.Second))))
	}
	tdError(w, status, http.StatusText(status), "failure injected by the spillway TD receiver")
	return true
}

// failControl is the body of POST /_spillway/fail.
type failControl struct {
	Next       int    `json:"next"`
	Status     int    `json:"status"`
	RetryAfter string `json:"retry_after,omitempty"`
}

func (s *Server) handleFailControl(w http.ResponseWriter, r *http.Request) {
	var fc failControl
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "decode: " + err.Error()})
		return
	}
	var errs []error
	if fc.Next < 0 {
		errs = append(errs, errors.New("next: negative"))
	}
	if fc.Next > 0 && (fc.Status < 400 || fc.Status > 599) {
		errs = append(errs, fmt.Errorf("status: %d is not an HTTP error status", fc.Status))
	}
	var after time.Duration
	if fc.RetryAfter != "" {
		d, err := time.ParseDuration(fc.RetryAfter)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("retry_after: %q is not a duration", fc.RetryAfter))
		}
		after = d
	}
	if err := errors.Join(errs...); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.FailNext(fc.Next, fc.Status, after)
	writeJSON(w, http.StatusOK, map[string]int{"next": fc.Next, "failures": s.Failures()})
}
