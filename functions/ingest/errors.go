package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Rejection reasons: the "reason" of logs and the Reason dimension of the
// Rejected metric. README.md lists each with its status and message.
const (
	reasonBadName          = "invalid_name"
	reasonBadUniqueID      = "invalid_unique_id"
	reasonBodyTooLarge     = "body_too_large"
	reasonDecompTooLarge   = "decompressed_too_large"
	reasonRatio            = "compression_ratio"
	reasonRecordTooLarge   = "record_too_large"
	reasonTooManyEvents    = "too_many_events"
	reasonTooManyKeys      = "too_many_keys"
	reasonTooDeep          = "too_deep"
	reasonTimeMissing      = "time_missing"
	reasonTimeInvalid      = "time_invalid"
	reasonBadGzip          = "invalid_compression"
	reasonBadMsgpack       = "invalid_msgpack"
	reasonBadJSON          = "invalid_json"
	reasonNotMap           = "record_not_map"
	reasonBadBase64        = "invalid_base64"
	reasonNoData           = "missing_data"
	reasonFormat           = "unsupported_format"
	reasonEncoding         = "unsupported_encoding"
	reasonUnknownDB        = "unknown_database"
	reasonUnknownTable     = "unknown_table"
	reasonExists           = "already_exists"
	reasonUnauthorized     = "unauthorized"
	reasonForbidden        = "forbidden"
	reasonNoRoute          = "no_route"
	reasonMethod           = "method_not_allowed"
	reasonThrottled        = "throttled"
	reasonUnavailable      = "unavailable"
	reasonInternal         = "internal"
	reasonFlushUnavailable = "flush_not_configured"
)

// apiError is a request failure answered with TD's JSON error shape.
type apiError struct {
	Status  int
	Reason  string
	Message string
	Cause   error // logged, never sent
}

func (e *apiError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Reason, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Reason, e.Message)
}

func (e *apiError) Unwrap() error { return e.Cause }

func reject(status int, reason, format string, args ...any) *apiError {
	return &apiError{Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// errorBody is TD's error JSON. TD answers {"error": ..., "text": ...,
// "severity": "error"}; "message" carries the same text for clients that
// read that field, and td-client-go reads "error".
type errorBody struct {
	Error    string `json:"error"`
	Message  string `json:"message"`
	Text     string `json:"text"`
	Severity string `json:"severity"`
}

func (e *apiError) body() string {
	b, _ := json.Marshal(errorBody{Error: e.Message, Message: e.Message, Text: e.Message, Severity: "error"})
	return string(b)
}

func (e *apiError) headers(retryAfterSec int) map[string]string {
	h := map[string]string{"Content-Type": "application/json; charset=utf-8"}
	if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
		h["Retry-After"] = strconv.Itoa(retryAfterSec)
	}
	return h
}

// unavailable is the 503 for a failed dependency call (DynamoDB, Lambda);
// the client should retry.
func unavailable(what string, err error) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Reason: reasonUnavailable, Message: what + " failed; retry later", Cause: err}
}
