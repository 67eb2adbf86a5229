package ingest

import (
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/spillwayhq/spillway/shared/tdimport"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// batch is a validated request: the decompressed msgpack map stream and
// where each event ends in it.
type batch struct {
	raw  []byte // msgpack map stream
	ends []int  // ends[i] is the offset just past event i
	minT int64  // smallest event time
	maxT int64  // largest event time
}

func (b *batch) events() int { return len(b.ends) }

// recordError maps a tdrecord failure to the API's answer; timeStatus is
// the status of an invalid time (422 for import bodies, 400 for in_http's
// time parameter and record times).
func recordError(err error, timeStatus int) *apiError {
	var e *tdrecord.Error
	if !errors.As(err, &e) {
		return &apiError{Status: http.StatusInternalServerError, Reason: reasonInternal, Message: "internal error", Cause: err}
	}
	status, reason := http.StatusBadRequest, reasonBadMsgpack
	switch e.Kind {
	case tdrecord.KindBadMsgpack:
	case tdrecord.KindNotMap:
		reason = reasonNotMap
	case tdrecord.KindTooManyKeys:
		status, reason = http.StatusUnprocessableEntity, reasonTooManyKeys
	case tdrecord.KindTooDeep:
		status, reason = http.StatusUnprocessableEntity, reasonTooDeep
	case tdrecord.KindRecordTooLarge:
		status, reason = http.StatusRequestEntityTooLarge, reasonRecordTooLarge
	case tdrecord.KindTooManyEvents:
		status, reason = http.StatusRequestEntityTooLarge, reasonTooManyEvents
	case tdrecord.KindTimeMissing:
		status, reason = http.StatusUnprocessableEntity, reasonTimeMissing
	case tdrecord.KindTimeInvalid:
		status, reason = timeStatus, reasonTimeInvalid
	case tdrecord.KindDecompressedTooLarge:
		status, reason = http.StatusRequestEntityTooLarge, reasonDecompTooLarge
	case tdrecord.KindRatio:
		status, reason = http.StatusRequestEntityTooLarge, reasonRatio
	case tdrecord.KindBadCompression:
		reason = reasonBadGzip
	case tdrecord.KindUnsupportedCompression:
		status, reason = http.StatusUnsupportedMediaType, reasonEncoding
	case tdrecord.KindUnsupportedType:
		status, reason = http.StatusUnsupportedMediaType, reasonFormat
	case tdrecord.KindBadJSON:
		reason = reasonBadJSON
	case tdrecord.KindNoData:
		reason = reasonNoData
	default:
		return &apiError{Status: http.StatusInternalServerError, Reason: reasonInternal, Message: e.Msg, Cause: err}
	}
	return &apiError{Status: status, Reason: reason, Message: e.Msg}
}

// requestBody returns the body bytes of an API Gateway event, decoding
// base64 when API Gateway marked it so, and enforces MaxBodyBytes.
func requestBody(body string, isBase64 bool, lim Limits) ([]byte, *apiError) {
	if !isBase64 {
		if len(body) > lim.MaxBodyBytes {
			return nil, reject(http.StatusRequestEntityTooLarge, reasonBodyTooLarge, "request body is %d bytes, limit %d", len(body), lim.MaxBodyBytes)
		}
		return []byte(body), nil
	}
	if base64.StdEncoding.DecodedLen(len(body)) > lim.MaxBodyBytes+3 {
		return nil, reject(http.StatusRequestEntityTooLarge, reasonBodyTooLarge, "request body is about %d bytes, limit %d", base64.StdEncoding.DecodedLen(len(body)), lim.MaxBodyBytes)
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := base64.StdEncoding.Decode(out, []byte(body))
	if err != nil {
		return nil, reject(http.StatusBadRequest, reasonBadBase64, "request body is marked base64 but does not decode: %v", err)
	}
	if n > lim.MaxBodyBytes {
		return nil, reject(http.StatusRequestEntityTooLarge, reasonBodyTooLarge, "request body is %d bytes, limit %d", n, lim.MaxBodyBytes)
	}
	return out[:n], nil
}

// compression returns the compression of an import format
// (tdimport.FormatGzip or FormatZstd), or false for an unknown format.
func compression(format string) (tdrecord.Compression, bool) {
	switch format {
	case tdimport.FormatGzip:
		return tdrecord.Gzip, true
	case tdimport.FormatZstd:
		return tdrecord.Zstd, true
	}
	return "", false
}

// decompress decompresses an import body into dst[:0] within lim.
func decompress(c tdrecord.Compression, body []byte, lim Limits, dst []byte) ([]byte, *apiError) {
	raw, err := tdrecord.Decompress(c, body, lim.Limits, dst)
	if err != nil {
		return nil, recordError(err, http.StatusUnprocessableEntity)
	}
	return raw, nil
}

// decodeMsgpackStream validates a msgpack map stream (TD import body after
// decompression) and indexes its events.
func decodeMsgpackStream(raw []byte, lim Limits) (*batch, *apiError) {
	b := &batch{raw: raw, ends: make([]int, 0, len(raw)/128+1)}
	w := tdrecord.Walker{Limits: lim.Limits}
	_, err := w.Walk(raw, func(ev tdrecord.Event) {
		if len(b.ends) == 0 || ev.Time < b.minT {
			b.minT = ev.Time
		}
		if len(b.ends) == 0 || ev.Time > b.maxT {
			b.maxT = ev.Time
		}
		b.ends = append(b.ends, ev.End)
	})
	if err != nil {
		return nil, recordError(err, http.StatusUnprocessableEntity)
	}
	return b, nil
}

// DecodeImport validates a TD import body (gzip of a msgpack map stream) with
// the given limits and returns the number of events, or an error whose text
// is the message the API would answer. It is the decoder the import routes
// use, exported for fuzzing and benchmarks.
func DecodeImport(body []byte, lim Limits) (events int, err error) {
	return DecodeImportFormat(tdimport.FormatGzip, body, lim)
}

// DecodeImportFormat is DecodeImport for a body in the given import format
// (tdimport.FormatGzip or tdimport.FormatZstd); an unknown format is the
// API's 415 error.
func DecodeImportFormat(format string, body []byte, lim Limits) (events int, err error) {
	c, ok := compression(format)
	if !ok {
		return 0, unsupportedFormat(format)
	}
	raw, aerr := decompress(c, body, lim, nil)
	if aerr != nil {
		return 0, aerr
	}
	b, aerr := decodeMsgpackStream(raw, lim)
	if aerr != nil {
		return 0, aerr
	}
	return b.events(), nil
}
