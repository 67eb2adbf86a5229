package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/shared/names"
)

// handleInHTTP serves Fluentd in_http style POST /<tag>, tag td.<db>.<table>.
// Fluentd answers 200 with an empty body; so does this route.
func (h *Handler) handleInHTTP(ctx context.Context, r *request, tag string) (events.APIGatewayV2HTTPResponse, *apiError) {
	if aerr := h.authenticate(ctx, r); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	db, table, err := names.ParseTag(tag)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, reject(http.StatusBadRequest, reasonBadName, "%v", err)
	}
	r.log = r.log.With("db", db, "table", table)
	if aerr := h.authorize(r, db, accessWrite); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	body, aerr := requestBody(r.ev.Body, r.ev.IsBase64Encoded, h.cfg.Limits)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	b, aerr := decodeInHTTP(r.header("Content-Type"), r.header("Content-Encoding"), r.ev.RawQueryString, body, h.d.Now(), h.cfg.Limits)
	if aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	// The id covers the events after time resolution: a retry within the same
	// second dedupes downstream, while identical posts at different times
	// (two identical "login" events) stay distinct events.
	uid := derivedUniqueID([]byte(tag), b.raw)
	r.log = r.log.With("unique_id", uid)
	if aerr := h.write(ctx, r, db, table, uid, b, nil, "", len(body)); aerr != nil {
		return events.APIGatewayV2HTTPResponse{}, aerr
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}}, nil
}

// decodeInHTTP turns an in_http request into validated TD events: it
// decompresses by Content-Encoding, picks the format by Content-Type (or
// the json=, ndjson=, msgpack= form parameters), and sets each event's
// integer "time" from the time query parameter, else the record's own
// "time" (removed and truncated to seconds, as Fluentd does), else now.
func decodeInHTTP(contentType, contentEncoding, rawQuery string, body []byte, now time.Time, lim Limits) (*batch, *apiError) {
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "", "identity":
	case "gzip", "x-gzip":
		raw, aerr := gunzip(body, lim, nil)
		if aerr != nil {
			return nil, aerr
		}
		body = raw
	case "deflate":
		raw, aerr := inflate(body, lim)
		if aerr != nil {
			return nil, aerr
		}
		body = raw
	default:
		return nil, reject(http.StatusUnsupportedMediaType, reasonEncoding, "Content-Encoding %q is not supported (gzip, deflate)", clip(contentEncoding, 64))
	}
	if len(body) > lim.MaxDecompressedBytes {
		return nil, reject(http.StatusRequestEntityTooLarge, reasonDecompTooLarge, "decompressed body exceeds %d bytes", lim.MaxDecompressedBytes)
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, reject(http.StatusBadRequest, reasonNoData, "invalid query string: %v", err)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	}
	var recs []map[string]any
	var aerr *apiError
	switch mt {
	case "application/json":
		recs, aerr = jsonRecords(body, lim)
	case "application/msgpack", "application/x-msgpack":
		recs, aerr = msgpackRecords(body, lim)
	case "application/x-ndjson", "application/ndjson":
		recs, aerr = ndjsonRecords(body, lim)
	case "", "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, reject(http.StatusBadRequest, reasonNoData, "invalid form body: %v", err)
		}
		pick := func(k string) (string, bool) {
			if form.Has(k) {
				return form.Get(k), true
			}
			if query.Has(k) {
				return query.Get(k), true
			}
			return "", false
		}
		if v, ok := pick("json"); ok {
			recs, aerr = jsonRecords([]byte(v), lim)
		} else if v, ok := pick("ndjson"); ok {
			recs, aerr = ndjsonRecords([]byte(v), lim)
		} else if v, ok := pick("msgpack"); ok {
			recs, aerr = msgpackRecords([]byte(v), lim)
		} else {
			return nil, reject(http.StatusBadRequest, reasonNoData, "'json', 'ndjson' or 'msgpack' parameter is required")
		}
	default:
		return nil, reject(http.StatusUnsupportedMediaType, reasonFormat, "Content-Type %q is not supported (application/json, application/x-ndjson, application/msgpack, application/x-www-form-urlencoded)", clip(mt, 100))
	}
	if aerr != nil {
		return nil, aerr
	}
	if len(recs) > lim.MaxEvents {
		return nil, reject(http.StatusRequestEntityTooLarge, reasonTooManyEvents, "request has more than %d events", lim.MaxEvents)
	}
	var paramTime int64
	hasParam := query.Has("time")
	if hasParam {
		t, ok := toSeconds(query.Get("time"))
		if !ok {
			return nil, reject(http.StatusBadRequest, reasonTimeInvalid, "time parameter %q is not a number of seconds", clip(query.Get("time"), 64))
		}
		paramTime = t
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true) // deterministic bytes: the unique_id is derived from them
	for i, rec := range recs {
		t := now.Unix()
		rt, has := rec["time"]
		delete(rec, "time")
		switch {
		case hasParam:
			t = paramTime
		case has && rt != nil:
			v, ok := toSeconds(rt)
			if !ok {
				return nil, reject(http.StatusBadRequest, reasonTimeInvalid, "event %d: \"time\" must be a number of seconds", i)
			}
			t = v
		}
		rec["time"] = t
		if err := enc.Encode(rec); err != nil {
			return nil, reject(http.StatusBadRequest, reasonBadMsgpack, "event %d cannot be encoded: %v", i, err)
		}
		if buf.Len() > lim.MaxDecompressedBytes {
			return nil, reject(http.StatusRequestEntityTooLarge, reasonDecompTooLarge, "events exceed %d bytes", lim.MaxDecompressedBytes)
		}
	}
	return decodeMsgpackStream(buf.Bytes(), lim)
}

// toSeconds converts a time value (number, json.Number or numeric string
// from a query parameter) to whole seconds.
func toSeconds(v any) (int64, bool) {
	var f float64
	switch x := v.(type) {
	case int64:
		return x, true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case float32:
		f = float64(x)
	case float64:
		f = x
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true
		}
		g, err := x.Float64()
		if err != nil {
			return 0, false
		}
		f = g
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n, true
		}
		g, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, false
		}
		f = g
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f >= math.MaxInt64 || f <= math.MinInt64 {
		return 0, false
	}
	return int64(math.Floor(f)), true
}

// jsonRecords decodes one JSON object or an array of objects.
func jsonRecords(body []byte, lim Limits) ([]map[string]any, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, reject(http.StatusBadRequest, reasonBadJSON, "invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, reject(http.StatusBadRequest, reasonBadJSON, "invalid JSON: data after the first value")
	}
	return asRecords(v, lim)
}

// ndjsonRecords decodes one JSON object per line (blank lines skipped).
func ndjsonRecords(body []byte, lim Limits) ([]map[string]any, *apiError) {
	var out []map[string]any
	for i, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, reject(http.StatusBadRequest, reasonBadJSON, "invalid JSON on line %d: %v", i+1, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, reject(http.StatusBadRequest, reasonBadJSON, "invalid JSON on line %d: data after the object", i+1)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, reject(http.StatusBadRequest, reasonNotMap, "line %d is not a JSON object", i+1)
		}
		if aerr := checkValue(m, lim, 0, len(out)); aerr != nil {
			return nil, aerr
		}
		out = append(out, m)
		if len(out) > lim.MaxEvents {
			return nil, reject(http.StatusRequestEntityTooLarge, reasonTooManyEvents, "request has more than %d events", lim.MaxEvents)
		}
	}
	return out, nil
}

// msgpackRecords decodes one msgpack map or an array of maps. The bytes are
// checked by the bounded walker first, so that hostile lengths never reach
// the decoder.
func msgpackRecords(body []byte, lim Limits) ([]map[string]any, *apiError) {
	end, err := skip(body, 0, 0, lim.MaxDepth+1)
	if err != nil {
		if errors.Is(err, errTooDeep) {
			return nil, reject(http.StatusUnprocessableEntity, reasonTooDeep, "msgpack nests deeper than %d levels", lim.MaxDepth)
		}
		return nil, reject(http.StatusBadRequest, reasonBadMsgpack, "invalid msgpack: %v", err)
	}
	if end != len(body) {
		return nil, reject(http.StatusBadRequest, reasonBadMsgpack, "invalid msgpack: %d bytes after the first value", len(body)-end)
	}
	var v any
	if err := msgpack.Unmarshal(body, &v); err != nil {
		return nil, reject(http.StatusBadRequest, reasonBadMsgpack, "invalid msgpack: %v", err)
	}
	return asRecords(v, lim)
}

// asRecords accepts a map or an array of maps.
func asRecords(v any, lim Limits) ([]map[string]any, *apiError) {
	switch x := v.(type) {
	case map[string]any:
		if aerr := checkValue(x, lim, 0, 0); aerr != nil {
			return nil, aerr
		}
		return []map[string]any{x}, nil
	case []any:
		if len(x) > lim.MaxEvents {
			return nil, reject(http.StatusRequestEntityTooLarge, reasonTooManyEvents, "request has more than %d events", lim.MaxEvents)
		}
		out := make([]map[string]any, 0, len(x))
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, reject(http.StatusBadRequest, reasonNotMap, "event %d is not an object", i)
			}
			if aerr := checkValue(m, lim, 0, i); aerr != nil {
				return nil, aerr
			}
			out = append(out, m)
		}
		return out, nil
	}
	return nil, reject(http.StatusBadRequest, reasonNotMap, "body must be an object or an array of objects, got %s", typeName(v))
}

// checkValue enforces key count and depth, and turns json.Number into
// int64 or float64 in place so that msgpack gets real numbers.
func checkValue(v any, lim Limits, depth, idx int) *apiError {
	switch x := v.(type) {
	case map[string]any:
		if depth == 0 && len(x) > lim.MaxKeys {
			return reject(http.StatusUnprocessableEntity, reasonTooManyKeys, "event %d has %d keys, limit %d", idx, len(x), lim.MaxKeys)
		}
		if depth > 0 && depth >= lim.MaxDepth && len(x) > 0 {
			return reject(http.StatusUnprocessableEntity, reasonTooDeep, "event %d nests deeper than %d levels", idx, lim.MaxDepth)
		}
		for k, e := range x {
			if n, ok := e.(json.Number); ok {
				x[k] = number(n)
				continue
			}
			if aerr := checkValue(e, lim, depth+1, idx); aerr != nil {
				return aerr
			}
		}
	case []any:
		if depth >= lim.MaxDepth && len(x) > 0 {
			return reject(http.StatusUnprocessableEntity, reasonTooDeep, "event %d nests deeper than %d levels", idx, lim.MaxDepth)
		}
		for i, e := range x {
			if n, ok := e.(json.Number); ok {
				x[i] = number(n)
				continue
			}
			if aerr := checkValue(e, lim, depth+1, idx); aerr != nil {
				return aerr
			}
		}
	}
	return nil
}

func number(n json.Number) any {
	if i, err := n.Int64(); err == nil {
		return i
	}
	if f, err := n.Float64(); err == nil {
		return f
	}
	return n.String()
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, int64, float64, uint64, int8, int16, int32, uint8, uint16, uint32, float32:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
