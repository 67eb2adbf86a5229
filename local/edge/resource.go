package edge

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// Resources: what a counted call addressed, finer than its operation, so
// that a cost model can tell calls that grow with bytes from calls that
// grow with something else (a staged object, a seal). CallCount.Resource
// holds one:
//
//   - S3: "<bucket>/<first key segment>/" ("logs/staged/", "logs/data/"),
//     the prefix of a listing; under an Iceberg table's layout (a later
//     segment "metadata" or "data") "<bucket>/<first segment>/*/metadata/"
//     or ".../*/data/"; "<bucket>/" for a call that names no key (a bucket
//     operation, a multi-object delete, whose keys are in its body);
//   - DynamoDB (while Config.Metering is on: it reads the request body):
//     "<table>", or "<table>/<kind>" when the item's partition key value
//     starts with a short lower-case kind and "#" ("manifests/staged" for
//     pk "staged#db.t"); a request over several resources (a batch) names
//     them joined with "+", sorted;
//   - anything else: "".

// resourceOf is the resource of a call (m: its meter, nil when not
// metered).
func resourceOf(r *http.Request, c Call, m *meter) string {
	switch {
	case c.Service == "s3":
		return s3Resource(r, c.Operation)
	case c.Service == "dynamodb" && m != nil:
		return m.ddbResource()
	}
	return ""
}

// maxKindLen bounds the kind a partition key value may start with.
const maxKindLen = 16

// s3Resource is the resource of a path-style S3 request.
func s3Resource(r *http.Request, op string) string {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" {
		return ""
	}
	if strings.HasPrefix(op, "ListObjects") {
		key = r.URL.Query().Get("prefix")
	}
	return bucket + "/" + keyResource(key)
}

// keyResource is the part of an S3 key a resource keeps.
func keyResource(key string) string {
	segs := strings.Split(key, "/")
	if len(segs) < 2 {
		return ""
	}
	for _, s := range segs[1 : len(segs)-1] {
		if s == "metadata" || s == "data" {
			return segs[0] + "/*/" + s + "/"
		}
	}
	return segs[0] + "/"
}

// ddbRequest is what a DynamoDB request's resource is read from.
type ddbRequest struct {
	TableName                 string
	Key                       item
	Item                      item
	KeyConditionExpression    string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues item
	RequestItems              map[string]json.RawMessage
}

// keyCondition matches one "name = :value" clause of a key condition.
var keyCondition = regexp.MustCompile(`([#\w]+)\s*=\s*(:\w+)`)

// ddbResource is the resource of a DynamoDB request (body, the meter's).
func (m *meter) ddbResource() string {
	var names []string
	addKey := func(table string, key item) {
		if table == "" {
			return
		}
		res := table
		if ks, err := m.s.tableKeys(m.r, m.c, table); err == nil {
			if kind := keyKind(key[ks.hash]); kind != "" {
				res += "/" + kind
			}
		}
		if !slices.Contains(names, res) {
			names = append(names, res)
		}
	}
	if m.write.op != "" {
		for i, a := range m.write.actions {
			addKey(a.table, m.keys[i])
		}
	} else {
		var q ddbRequest
		if err := json.Unmarshal(m.body, &q); err != nil {
			return ""
		}
		switch {
		case q.Key != nil:
			addKey(q.TableName, q.Key)
		case q.KeyConditionExpression != "":
			addKey(q.TableName, m.conditionKey(q))
		case q.TableName != "":
			addKey(q.TableName, nil)
		default:
			for table := range q.RequestItems {
				addKey(table, nil)
			}
		}
	}
	slices.Sort(names)
	return strings.Join(names, "+")
}

// conditionKey is the hash key a Query's key condition names, as an item.
func (m *meter) conditionKey(q ddbRequest) item {
	ks, err := m.s.tableKeys(m.r, m.c, q.TableName)
	if err != nil {
		return nil
	}
	for _, c := range keyCondition.FindAllStringSubmatch(q.KeyConditionExpression, -1) {
		name := c[1]
		if n, ok := q.ExpressionAttributeNames[name]; ok {
			name = n
		}
		if name == ks.hash {
			return item{ks.hash: q.ExpressionAttributeValues[c[2]]}
		}
	}
	return nil
}

// keyKind is the kind a string key value starts with ("staged" of
// "staged#db.t"), or "".
func keyKind(v attrValue) string {
	var s string
	if raw, ok := v["S"]; !ok || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	kind, _, ok := strings.Cut(s, "#")
	if !ok || kind == "" || len(kind) > maxKindLen {
		return ""
	}
	for _, r := range kind {
		if r < 'a' || r > 'z' {
			return ""
		}
	}
	return kind
}
