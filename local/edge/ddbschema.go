package edge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// keySchema names a table's key attributes.
type keySchema struct {
	hash, rng string
}

// schemas caches key schemas by region and table, read from the backend
// with DescribeTable; CreateTable and DeleteTable through the edge clear it.
type schemas struct {
	mu sync.Mutex
	m  map[string]keySchema
}

func (sc *schemas) clear() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.m = nil
}

// tableKeys returns the key schema of table in the request's region, asking
// the backend once per table with the caller's credentials.
func (s *Server) tableKeys(r *http.Request, c Call, table string) (keySchema, error) {
	ck := scopeRegion(r.Header.Get("Authorization")) + "\x00" + table
	s.schemas.mu.Lock()
	ks, ok := s.schemas.m[ck]
	s.schemas.mu.Unlock()
	if ok {
		return ks, nil
	}
	body, _ := json.Marshal(map[string]string{"TableName": table})
	b, err := s.backendDDB(r, c, "DescribeTable", body)
	if err != nil {
		return ks, fmt.Errorf("describe table %s: %w", table, err)
	}
	var desc struct {
		Table struct {
			KeySchema []struct{ AttributeName, KeyType string }
		}
	}
	if err := json.Unmarshal(b, &desc); err != nil {
		return ks, fmt.Errorf("describe table %s: %w", table, err)
	}
	for _, k := range desc.Table.KeySchema {
		switch k.KeyType {
		case "HASH":
			ks.hash = k.AttributeName
		case "RANGE":
			ks.rng = k.AttributeName
		}
	}
	if ks.hash == "" {
		return ks, fmt.Errorf("describe table %s: no HASH key in %.200s", table, b)
	}
	s.schemas.mu.Lock()
	if s.schemas.m == nil {
		s.schemas.m = map[string]keySchema{}
	}
	s.schemas.m[ck] = ks
	s.schemas.mu.Unlock()
	return ks, nil
}

// backendDDB sends one DynamoDB JSON-protocol call straight to the backend
// with the caller's credentials (not counted, no faults) and returns the
// answer of a 200.
func (s *Server) backendDDB(r *http.Request, c Call, op string, body []byte) ([]byte, error) {
	out, err := http.NewRequestWithContext(r.Context(), http.MethodPost, s.backendFor(c).String()+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := r.Header.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
	out.Header.Set("Content-Type", "application/x-amz-json-1.0")
	out.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	resp, err := s.client.Do(out)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBufferedBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("backend answered %d: %.200s", resp.StatusCode, b)
	}
	return b, nil
}

// keyOf picks the key attributes out of a full item.
func (ks keySchema) keyOf(it item) item {
	k := item{}
	if v, ok := it[ks.hash]; ok {
		k[ks.hash] = v
	}
	if ks.rng != "" {
		if v, ok := it[ks.rng]; ok {
			k[ks.rng] = v
		}
	}
	return k
}

// itemID names one item: region, table and its key, canonical (attribute
// names sorted, values compacted).
func itemID(region, table string, key item) string {
	names := make([]string, 0, len(key))
	for n := range key {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(region + "\x00" + table)
	for _, n := range names {
		v, _ := json.Marshal(key[n])
		b.WriteString("\x00" + n + "=" + string(v))
	}
	return b.String()
}

// scopeRegion returns the region of a SigV4 Authorization header's
// credential scope, or "".
func scopeRegion(auth string) string {
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return ""
	}
	s := auth[i+len("Credential="):]
	if j := strings.IndexAny(s, ", "); j >= 0 {
		s = s[:j]
	}
	parts := strings.Split(s, "/")
	if len(parts) < 5 {
		return ""
	}
	return parts[len(parts)-3]
}
