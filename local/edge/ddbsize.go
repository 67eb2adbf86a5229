package edge

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// attrValue is a DynamoDB AttributeValue in the JSON protocol: one member,
// {"S": "..."}, {"N": "..."}, {"M": {...}}, ...
type attrValue map[string]json.RawMessage

// item is a DynamoDB item or key: attribute name to value.
type item map[string]attrValue

// itemSize is an item's size by DynamoDB's rules
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
// the sum of every attribute's UTF-8 name length and value size.
func itemSize(it item) (int, error) {
	total := 0
	for name, v := range it {
		n, err := valueSize(v)
		if err != nil {
			return 0, fmt.Errorf("attribute %q: %w", name, err)
		}
		total += len(name) + n
	}
	return total, nil
}

// valueSize is the size of one value: strings their UTF-8 bytes, binaries
// their raw bytes, numbers 1 byte per two significant digits plus 1, null
// and booleans 1, sets the sum of their members, lists and maps 3 bytes plus
// 1 byte per element plus the elements (map element names included).
func valueSize(v attrValue) (int, error) {
	if len(v) != 1 {
		return 0, fmt.Errorf("attribute value has %d members, want 1", len(v))
	}
	for typ, raw := range v {
		switch typ {
		case "S":
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return 0, fmt.Errorf("type S: %w", err)
			}
			return len(s), nil
		case "N":
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return 0, fmt.Errorf("type N: %w", err)
			}
			return numberSize(s), nil
		case "B":
			return binarySize(raw)
		case "BOOL", "NULL":
			return 1, nil
		case "SS", "NS", "BS":
			return setSize(typ, raw)
		case "L":
			var l []attrValue
			if err := json.Unmarshal(raw, &l); err != nil {
				return 0, fmt.Errorf("type L: %w", err)
			}
			total := 3
			for i, e := range l {
				n, err := valueSize(e)
				if err != nil {
					return 0, fmt.Errorf("type L[%d]: %w", i, err)
				}
				total += 1 + n
			}
			return total, nil
		case "M":
			var m item
			if err := json.Unmarshal(raw, &m); err != nil {
				return 0, fmt.Errorf("type M: %w", err)
			}
			n, err := itemSize(m)
			if err != nil {
				return 0, fmt.Errorf("type M: %w", err)
			}
			return 3 + len(m) + n, nil
		default:
			return 0, fmt.Errorf("unknown attribute type %q", typ)
		}
	}
	return 0, nil
}

func binarySize(raw json.RawMessage) (int, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("type B: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, fmt.Errorf("type B: %w", err)
	}
	return len(b), nil
}

func setSize(typ string, raw json.RawMessage) (int, error) {
	var members []string
	if err := json.Unmarshal(raw, &members); err != nil {
		return 0, fmt.Errorf("type %s: %w", typ, err)
	}
	total := 0
	for _, m := range members {
		switch typ {
		case "SS":
			total += len(m)
		case "NS":
			total += numberSize(m)
		case "BS":
			b, err := base64.StdEncoding.DecodeString(m)
			if err != nil {
				return 0, fmt.Errorf("type BS: %w", err)
			}
			total += len(b)
		}
	}
	return total, nil
}

// numberSize is (significant digits + 1) / 2 + 1: leading and trailing
// zeroes trimmed, sign, point and exponent not counted.
func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.Replace(s, ".", "", 1)
	s = strings.Trim(s, "0")
	return (len(s)+1)/2 + 1
}
