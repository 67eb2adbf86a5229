package tdrecord

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"
)

// InHTTPRequest is what DecodeInHTTP needs of a Fluentd in_http request
// (POST /<tag>).
type InHTTPRequest struct {
	ContentType     string // the Content-Type header
	ContentEncoding string // the Content-Encoding header: "", identity, gzip, x-gzip or deflate
	RawQuery        string // the URL's query, without '?'
	Body            []byte // the body as received
	Now             int64  // Unix seconds, the time of records without one
}

// DecodeInHTTP turns an in_http request into a validated record stream
// (msgpack maps, each with an integer "time", written by AppendRecord) and
// its event count, the way Fluentd's in_http reads it:
//
//   - the body is decompressed by Content-Encoding (gzip, deflate, zstd,
//     snappy: a raw block or the framing format) within lim;
//   - application/json (an object, an array of objects, or several of those
//     back to back as Fluent Bit's json_stream sends them),
//     application/msgpack and application/x-msgpack (one or more values back
//     to back, each a map, an array of maps, or a Fluent event
//     [time, record] / [[time, metadata], record] with an EventTime or
//     numeric time, as Fluent Bit's and Fluentd's msgpack outputs send
//     them), application/x-ndjson, application/ndjson, application/jsonl and
//     application/jsonlines (one object per non-empty line) are read from
//     the body; an empty Content-Type or application/x-www-form-urlencoded
//     reads the json=, ndjson= or msgpack= parameter (in that order; a form
//     field wins over the query parameter of the same name); any other
//     Content-Type is KindUnsupportedType;
//   - each record's time is the "time" parameter when it is set and not 0,
//     else the event's time (msgpack events), else the field named by the
//     "time_key" parameter (removed; see KeySeconds: Fluent Bit's
//     json_date_key, Vector's "timestamp"), else the record's own "time"
//     (normalised by Seconds), else Now (see the package doc).
//
// Keys, depth, record size and event count are checked against lim. A
// request without records gives an empty stream and 0.
func DecodeInHTTP(r InHTTPRequest, lim Limits) ([]byte, int, error) {
	body := r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.ContentEncoding)); enc {
	case "", "identity":
	case "gzip", "x-gzip", "deflate", "zstd", "snappy":
		var raw []byte
		var err error
		switch enc {
		case "deflate":
			raw, err = Inflate(body, lim, nil)
		case "zstd":
			raw, err = Unzstd(body, lim, nil)
		case "snappy":
			raw, err = Unsnappy(body, lim, nil)
		default:
			raw, err = Gunzip(body, lim, nil)
		}
		if err != nil {
			return nil, 0, err
		}
		body = raw
	default:
		return nil, 0, fail(KindUnsupportedCompression, "Content-Encoding %q is not supported (gzip, deflate, zstd, snappy)", clip(r.ContentEncoding, 64))
	}
	if len(body) > lim.MaxDecompressedBytes {
		return nil, 0, fail(KindDecompressedTooLarge, "decompressed body exceeds %d bytes", lim.MaxDecompressedBytes)
	}
	query, err := url.ParseQuery(r.RawQuery)
	if err != nil {
		return nil, 0, &Error{Kind: KindNoData, Msg: "invalid query string: " + err.Error(), Err: err}
	}
	mt, _, err := mime.ParseMediaType(r.ContentType)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(r.ContentType, ";")[0]))
	}
	var form url.Values
	param := func(k string) (string, bool) {
		if form.Has(k) {
			return form.Get(k), true
		}
		if query.Has(k) {
			return query.Get(k), true
		}
		return "", false
	}
	var recs []map[string]any
	var evTimes []int64 // per record, the time of a [time, record] event (0: none)
	switch mt {
	case "application/json":
		recs, err = jsonStreamRecords(body, lim)
	case "application/msgpack", "application/x-msgpack":
		recs, evTimes, err = msgpackEvents(body, lim)
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/jsonlines":
		recs, err = ndjsonRecords(body, lim)
	case "", "application/x-www-form-urlencoded":
		if form, err = url.ParseQuery(string(body)); err != nil {
			return nil, 0, &Error{Kind: KindNoData, Msg: "invalid form body: " + err.Error(), Err: err}
		}
		if v, ok := param("json"); ok {
			recs, err = jsonRecords([]byte(v), lim)
		} else if v, ok := param("ndjson"); ok {
			recs, err = ndjsonRecords([]byte(v), lim)
		} else if v, ok := param("msgpack"); ok {
			recs, evTimes, err = msgpackEvents([]byte(v), lim)
		} else {
			return nil, 0, fail(KindNoData, "'json', 'ndjson' or 'msgpack' parameter is required")
		}
	default:
		return nil, 0, fail(KindUnsupportedType, "Content-Type %q is not supported (application/json, application/x-ndjson, application/msgpack, application/x-www-form-urlencoded)", clip(mt, 100))
	}
	if err != nil {
		return nil, 0, err
	}
	if len(recs) > lim.MaxEvents {
		return nil, 0, fail(KindTooManyEvents, "request has more than %d events", lim.MaxEvents)
	}
	var paramTime int64
	if v, ok := param("time"); ok && v != "" {
		t, err := ParseSeconds(v)
		if err != nil {
			return nil, 0, &Error{Kind: KindTimeInvalid, Msg: "time parameter " + strconv.Quote(clip(v, 64)) + " is not a number of seconds", Err: err}
		}
		paramTime = t
	}
	timeKey, _ := param("time_key")
	var out []byte
	for i, rec := range recs {
		t := r.Now
		rt := rec["time"]
		var kt any
		if timeKey != "" && timeKey != "time" {
			kt = rec[timeKey]
			delete(rec, timeKey)
		}
		switch {
		case paramTime != 0:
			t = paramTime
		case len(evTimes) > i && evTimes[i] != 0:
			t = evTimes[i]
		case kt != nil:
			v, err := KeySeconds(kt)
			if err != nil {
				return nil, 0, &Error{Kind: KindTimeInvalid, Msg: "event " + strconv.Itoa(i) + ": " + strconv.Quote(clip(timeKey, 64)) + " (time_key) must be a number of seconds or milliseconds, or an RFC 3339 time", Err: err}
			}
			t = v
		case rt != nil:
			v, err := Seconds(rt)
			if err != nil {
				return nil, 0, &Error{Kind: KindTimeInvalid, Msg: "event " + strconv.Itoa(i) + ": \"time\" must be a number of seconds", Err: err}
			}
			t = v
		}
		if out, err = AppendRecord(out, rec, t); err != nil {
			return nil, 0, &Error{Kind: KindBadMsgpack, Msg: "event " + strconv.Itoa(i) + " cannot be encoded: " + err.Error(), Err: err}
		}
		if len(out) > lim.MaxDecompressedBytes {
			return nil, 0, fail(KindDecompressedTooLarge, "events exceed %d bytes", lim.MaxDecompressedBytes)
		}
	}
	w := Walker{Limits: lim}
	n, err := w.Walk(out, nil)
	if err != nil {
		return nil, 0, err
	}
	return out, n, nil
}

// jsonRecords decodes one JSON object or an array of objects.
func jsonRecords(body []byte, lim Limits) ([]map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &Error{Kind: KindBadJSON, Msg: "invalid JSON: " + err.Error(), Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fail(KindBadJSON, "invalid JSON: data after the first value")
	}
	return asRecords(v, lim)
}

// ndjsonRecords decodes one JSON object per line (blank lines skipped).
func ndjsonRecords(body []byte, lim Limits) ([]map[string]any, error) {
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
			return nil, &Error{Kind: KindBadJSON, Msg: "invalid JSON on line " + strconv.Itoa(i+1) + ": " + err.Error(), Err: err}
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, fail(KindBadJSON, "invalid JSON on line %d: data after the object", i+1)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fail(KindNotMap, "line %d is not a JSON object", i+1)
		}
		if err := checkValue(m, lim, 0, len(out)); err != nil {
			return nil, err
		}
		out = append(out, m)
		if len(out) > lim.MaxEvents {
			return nil, fail(KindTooManyEvents, "request has more than %d events", lim.MaxEvents)
		}
	}
	return out, nil
}

// asRecords accepts a map or an array of maps.
func asRecords(v any, lim Limits) ([]map[string]any, error) {
	switch x := v.(type) {
	case map[string]any:
		if err := checkValue(x, lim, 0, 0); err != nil {
			return nil, err
		}
		return []map[string]any{x}, nil
	case []any:
		if len(x) > lim.MaxEvents {
			return nil, fail(KindTooManyEvents, "request has more than %d events", lim.MaxEvents)
		}
		out := make([]map[string]any, 0, len(x))
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fail(KindNotMap, "event %d is not an object", i)
			}
			if err := checkValue(m, lim, 0, i); err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		return out, nil
	}
	return nil, fail(KindNotMap, "body must be an object or an array of objects, got %s", typeName(v))
}

// checkValue enforces key count and depth, and turns json.Number into
// numbers in place (JSONNumber) so that msgpack gets real numbers.
func checkValue(v any, lim Limits, depth, idx int) error {
	switch x := v.(type) {
	case map[string]any:
		if depth == 0 && len(x) > lim.MaxKeys {
			return fail(KindTooManyKeys, "event %d has %d keys, limit %d", idx, len(x), lim.MaxKeys)
		}
		if depth > 0 && depth >= lim.MaxDepth && len(x) > 0 {
			return fail(KindTooDeep, "event %d nests deeper than %d levels", idx, lim.MaxDepth)
		}
		for k, e := range x {
			if n, ok := e.(json.Number); ok {
				if depth > 0 || k != "time" { // a record's time is read by Seconds
					x[k] = JSONNumber(n)
				}
				continue
			}
			if err := checkValue(e, lim, depth+1, idx); err != nil {
				return err
			}
		}
	case []any:
		if depth >= lim.MaxDepth && len(x) > 0 {
			return fail(KindTooDeep, "event %d nests deeper than %d levels", idx, lim.MaxDepth)
		}
		for i, e := range x {
			if n, ok := e.(json.Number); ok {
				x[i] = JSONNumber(n)
				continue
			}
			if err := checkValue(e, lim, depth+1, idx); err != nil {
				return err
			}
		}
	}
	return nil
}

// JSONNumber converts a JSON number of a record to what is stored (see the
// package doc): int64, else uint64 for integer literals, else float64, and
// the literal itself when it overflows float64 (it would be +-Inf).
func JSONNumber(n json.Number) any {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return f
}

// JSONValue converts every json.Number in v (a value decoded with
// UseNumber) with JSONNumber, in place where v is a map or slice, and
// returns the result.
func JSONValue(v any) any {
	switch t := v.(type) {
	case json.Number:
		return JSONNumber(t)
	case map[string]any:
		for k, x := range t {
			t[k] = JSONValue(x)
		}
	case []any:
		for i, x := range t {
			t[i] = JSONValue(x)
		}
	}
	return v
}
