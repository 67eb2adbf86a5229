package parser

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// jsonParser is Fluentd's JSONParser: one JSON object per line; the time
// key is numeric seconds unless time_format is set. Key order is kept.
type jsonParser struct{ c *common }

// AppendRecord implements Parser.
func (p *jsonParser) AppendRecord(dst, line []byte, now time.Time) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return dst, fmt.Errorf("%w: json: not an object", ErrNoMatch)
	}
	var fields []field
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return dst, fmt.Errorf("%w: json: %v", ErrNoMatch, err)
		}
		k, _ := kt.(string)
		v, err := jsonValue(dec, nil, 0)
		if err != nil {
			return dst, fmt.Errorf("%w: json: %v", ErrNoMatch, err)
		}
		fields = setField(fields, k, v)
	}
	if _, err := dec.Token(); err != nil {
		return dst, fmt.Errorf("%w: json: %v", ErrNoMatch, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return dst, fmt.Errorf("%w: json: data after the object", ErrNoMatch)
	}
	return p.c.finish(dst, fields, now)
}

const maxJSONDepth = 512

// jsonValue reads one JSON value; scalars come back typed, objects and
// arrays as msgpack (kRaw).
func jsonValue(dec *json.Decoder, raw []byte, depth int) (value, error) {
	if depth > maxJSONDepth {
		return value{}, fmt.Errorf("nested deeper than %d", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return value{}, err
	}
	switch t := tok.(type) {
	case nil:
		return value{}, nil
	case bool:
		return value{k: kBool, b: t}, nil
	case string:
		return strValue(t), nil
	case json.Number:
		return jsonNumber(string(t)), nil
	case json.Delim:
		array := t == '['
		start := len(raw)
		raw = append(raw, make([]byte, headerReserve)...)
		n := 0
		for dec.More() {
			if !array {
				kt, err := dec.Token()
				if err != nil {
					return value{}, err
				}
				k, _ := kt.(string)
				raw = appendStr(raw, k)
			}
			v, err := jsonValue(dec, nil, depth+1)
			if err != nil {
				return value{}, err
			}
			raw = appendValue(raw, v)
			n++
		}
		if _, err := dec.Token(); err != nil {
			return value{}, err
		}
		return value{k: kRaw, raw: fixHeader(raw, start, n, array)}, nil
	}
	return value{}, fmt.Errorf("unexpected token %v", tok)
}

func jsonNumber(s string) value {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return value{k: kInt, i: i}
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return value{k: kRaw, raw: appendUint(nil, u)}
		}
	}
	f, _ := strconv.ParseFloat(s, 64)
	return value{k: kFloat, f: f}
}
