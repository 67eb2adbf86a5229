package edge

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
)

// reshapesStream lists the Kinesis operations after which the edge reads a
// stream's shards again.
var reshapesStream = map[string]bool{
	"CreateStream": true, "DeleteStream": true, "UpdateShardCount": true,
	"SplitShard": true, "MergeShards": true, "UpdateStreamMode": true,
}

// shardRange is one open shard and its hash key range.
type shardRange struct {
	id     string
	lo, hi *big.Int
}

// shardMaps caches the open shards of each stream by region and name.
type shardMaps struct {
	mu sync.Mutex
	m  map[string][]shardRange
}

func (sm *shardMaps) clear() {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.m = nil
}

// streamName returns the stream a request names (StreamName, or the name in
// StreamARN).
func streamName(name, arn string) string {
	if name != "" {
		return name
	}
	if i := strings.LastIndex(arn, ":stream/"); i >= 0 {
		return arn[i+len(":stream/"):]
	}
	return arn
}

// openShards returns the stream's open shards, read once from the backend
// with ListShards and the caller's credentials.
func (s *Server) openShards(r *http.Request, c Call, name, arn string) ([]shardRange, error) {
	stream := streamName(name, arn)
	ck := scopeRegion(r.Header.Get("Authorization")) + "\x00" + stream
	s.shards.mu.Lock()
	got, ok := s.shards.m[ck]
	s.shards.mu.Unlock()
	if ok {
		return got, nil
	}
	var out []shardRange
	next := ""
	for {
		in := map[string]string{}
		switch {
		case next != "":
			in["NextToken"] = next
		case name != "":
			in["StreamName"] = name
		default:
			in["StreamARN"] = arn
		}
		var page struct {
			Shards []struct {
				ShardId      string
				HashKeyRange struct{ StartingHashKey, EndingHashKey string }
				// SequenceNumberRange.EndingSequenceNumber is set on closed shards.
				SequenceNumberRange struct{ EndingSequenceNumber string }
			}
			NextToken string
		}
		if err := s.kinesisCall(r, c, "ListShards", in, &page); err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", stream, err)
		}
		for _, sh := range page.Shards {
			if sh.SequenceNumberRange.EndingSequenceNumber != "" {
				continue
			}
			lo, ok1 := new(big.Int).SetString(sh.HashKeyRange.StartingHashKey, 10)
			hi, ok2 := new(big.Int).SetString(sh.HashKeyRange.EndingHashKey, 10)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("list shards of %s: shard %s has hash key range %+v", stream, sh.ShardId, sh.HashKeyRange)
			}
			out = append(out, shardRange{id: sh.ShardId, lo: lo, hi: hi})
		}
		if page.NextToken == "" {
			break
		}
		next = page.NextToken
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("list shards of %s: no open shard", stream)
	}
	s.shards.mu.Lock()
	if s.shards.m == nil {
		s.shards.m = map[string][]shardRange{}
	}
	s.shards.m[ck] = out
	s.shards.mu.Unlock()
	return out, nil
}

// kinesisCall makes one Kinesis JSON call to the backend with the caller's
// credentials.
func (s *Server) kinesisCall(r *http.Request, c Call, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode %s: %w", op, err)
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, s.backendFor(c).String()+"/", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: backend answered %d: %.200s", op, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode %s: %w", op, err)
	}
	return nil
}

// shardFor returns the shard whose hash key range holds the record: the
// explicit hash key when given, else the MD5 of the partition key as a
// 128-bit integer.
func shardFor(shards []shardRange, partitionKey, explicitHashKey string) (string, bool) {
	h := new(big.Int)
	if explicitHashKey != "" {
		if _, ok := h.SetString(explicitHashKey, 10); !ok {
			return "", false
		}
	} else {
		sum := md5.Sum([]byte(partitionKey))
		h.SetBytes(sum[:])
	}
	for _, sh := range shards {
		if h.Cmp(sh.lo) >= 0 && h.Cmp(sh.hi) <= 0 {
			return sh.id, true
		}
	}
	return "", false
}
