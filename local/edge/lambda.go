package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// Lambda payload limits (AWS quotas): 6 MB synchronous, 1 MB asynchronous.
const (
	maxSyncPayload  = 6 << 20
	maxAsyncPayload = 1 << 20
)

// ErrUnknownFunction is returned by an Invoker that has no function of the
// requested name; the edge answers 404 ResourceNotFoundException.
var ErrUnknownFunction = errors.New("function not found")

// InvokeResult is what one invocation returned.
type InvokeResult struct {
	// Payload is the function's response or error document.
	Payload []byte
	// FunctionError is empty on success, else the X-Amz-Function-Error value
	// ("Unhandled").
	FunctionError string
}

// Invoker runs Lambda invocations for the edge (the local Lambda runner).
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) (InvokeResult, error)
}

// AsyncInvoker is implemented by Invokers that queue Event invocations
// themselves (with Lambda's retries); the edge then hands Event calls to
// InvokeAsync instead of running Invoke in the background.
type AsyncInvoker interface {
	InvokeAsync(ctx context.Context, function string, payload []byte) error
}

// InvokerFunc adapts a function to Invoker.
type InvokerFunc func(ctx context.Context, function string, payload []byte) (InvokeResult, error)

// Invoke calls f.
func (f InvokerFunc) Invoke(ctx context.Context, function string, payload []byte) (InvokeResult, error) {
	return f(ctx, function, payload)
}

func (s *Server) serveInvoke(w http.ResponseWriter, r *http.Request, c Call) {
	s.invMu.RLock()
	inv := s.invoker
	s.invMu.RUnlock()
	if inv == nil {
		writeAWSError(w, r, c, http.StatusNotFound, "ResourceNotFoundException", "spillway edge: no local Lambda runner registered (function "+c.Function+")")
		return
	}
	typ := r.Header.Get("X-Amz-Invocation-Type")
	if typ == "" {
		typ = "RequestResponse"
	}
	limit := int64(maxSyncPayload)
	if typ == "Event" {
		limit = maxAsyncPayload
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		writeAWSError(w, r, c, http.StatusBadRequest, "InvalidRequestContentException", "read payload: "+err.Error())
		return
	}
	if int64(len(payload)) > limit {
		writeAWSError(w, r, c, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
			"Request must be smaller than "+strconv.FormatInt(limit, 10)+" bytes for the "+typ+" invocation type")
		return
	}
	switch typ {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
	case "Event":
		if ai, ok := inv.(AsyncInvoker); ok {
			if err := ai.InvokeAsync(r.Context(), c.Function, payload); err != nil {
				if errors.Is(err, ErrUnknownFunction) {
					writeAWSError(w, r, c, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+c.Function)
					return
				}
				writeAWSError(w, r, c, http.StatusBadGateway, "ServiceException", "spillway edge: queue event for "+c.Function+": "+err.Error())
				return
			}
			w.Header().Set("X-Amzn-RequestId", requestID())
			w.WriteHeader(http.StatusAccepted)
			return
		}
		s.async.Add(1)
		go func() {
			defer s.async.Done()
			res, err := inv.Invoke(s.baseCtx, c.Function, payload)
			switch {
			case err != nil:
				s.log.Error("async invoke failed", "function", c.Function, "err", err)
			case res.FunctionError != "":
				s.log.Warn("async invoke function error", "function", c.Function, "error", string(res.Payload))
			default:
				s.log.Debug("async invoke done", "function", c.Function)
			}
		}()
		w.Header().Set("X-Amzn-RequestId", requestID())
		w.WriteHeader(http.StatusAccepted)
	case "RequestResponse":
		res, err := inv.Invoke(r.Context(), c.Function, payload)
		if err != nil {
			if errors.Is(err, ErrUnknownFunction) {
				writeAWSError(w, r, c, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+c.Function)
				return
			}
			s.log.Error("invoke failed", "function", c.Function, "err", err)
			writeAWSError(w, r, c, http.StatusBadGateway, "ServiceException", "spillway edge: invoke "+c.Function+": "+err.Error())
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Amzn-RequestId", requestID())
		h.Set("X-Amz-Executed-Version", "$LATEST")
		if res.FunctionError != "" {
			h.Set("X-Amz-Function-Error", res.FunctionError)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.Payload)
	default:
		writeAWSError(w, r, c, http.StatusBadRequest, "InvalidParameterValueException", "unknown X-Amz-Invocation-Type "+typ)
	}
}
