package edge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
)

// kinesisAccount is the account in throughput messages (moto's default).
const kinesisAccount = "123456789012"

// kinesisRecord is the part of a PutRecord request, or of one PutRecords
// entry, the shard limits need.
type kinesisRecord struct {
	Data            string
	PartitionKey    string
	ExplicitHashKey string
	StreamName      string
	StreamARN       string
}

// rateExceeded is Kinesis's message for a write over a shard's limits.
func rateExceeded(shard, stream string) string {
	return "Rate exceeded for shard " + shard + " in stream " + stream + " under account " + kinesisAccount + "."
}

// serveKinesisPut answers PutRecord and PutRecords one at a time at the
// backend (moto loses records under concurrent writers), failing the
// records over their shard's per-second limits, and, for PutRecords, the
// records a fired partial_failure fault picks.
func (s *Server) serveKinesisPut(w http.ResponseWriter, r *http.Request, c Call, rule FaultRule, fired bool) {
	mu := s.writeMu["kinesis"]
	mu.Lock()
	defer mu.Unlock()
	beh := s.AWSBehaviours()
	partial := fired && rule.PartialFailure > 0 && c.Operation == "PutRecords"
	if !partial && beh.NoKinesisShardLimits {
		s.proxyFor(c).ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody+1))
	if err != nil || len(body) > maxBufferedBody {
		writeAWSError(w, r, c, http.StatusBadRequest, "SerializationException", "request body unreadable or too large")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if c.Operation == "PutRecord" {
		var rec kinesisRecord
		if json.Unmarshal(body, &rec) != nil {
			s.proxyFor(c).ServeHTTP(w, r) // the backend judges a malformed body
			return
		}
		stream := streamName(rec.StreamName, rec.StreamARN)
		if shard, ok := s.shardAllows(r, c, beh, rec, rec.StreamName, rec.StreamARN); !ok {
			s.faults.add(counterKey(c, "ProvisionedThroughputExceededException.limit"), 1)
			writeAWSError(w, r, c, http.StatusBadRequest, "ProvisionedThroughputExceededException", rateExceeded(shard, stream))
			return
		}
		s.proxyFor(c).ServeHTTP(w, r)
		return
	}
	req, err := parsePutRecords(body)
	if err != nil {
		s.proxyFor(c).ServeHTTP(w, r)
		return
	}
	var names struct{ StreamName, StreamARN string }
	_ = json.Unmarshal(body, &names)
	stream := streamName(names.StreamName, names.StreamARN)
	failed := map[int]string{}
	if partial {
		for _, i := range s.faults.failIndexes(len(req.records), rule.PartialFailure) {
			failed[i] = "Rate exceeded for shard shardId-000000000000 in stream " + stream + " under account " + kinesisAccount + ". (injected by the spillway edge)"
		}
		s.faults.add(counterKey(c, "ProvisionedThroughputExceededException.records"), int64(len(failed)))
	}
	limited := 0
	if !beh.NoKinesisShardLimits {
		for i, raw := range req.records {
			if _, ok := failed[i]; ok {
				continue
			}
			var rec kinesisRecord
			if json.Unmarshal(raw, &rec) != nil {
				continue
			}
			if shard, ok := s.shardAllows(r, c, beh, rec, names.StreamName, names.StreamARN); !ok {
				failed[i] = rateExceeded(shard, stream)
				limited++
			}
		}
		if limited > 0 {
			s.faults.add(counterKey(c, "ProvisionedThroughputExceededException.limit.records"), int64(limited))
		}
	}
	if len(failed) == 0 {
		s.proxyFor(c).ServeHTTP(w, r)
		return
	}
	s.log.Info("PutRecords records failed", "stream", stream, "records", len(req.records),
		"failed", len(failed), "over_shard_limits", limited, "injected", len(failed)-limited)
	s.forwardPutRecords(w, r, c, req, failed)
}

// shardAllows takes the record from its shard's per-second budget and
// reports whether it fitted, with the shard's id. A record whose shard
// cannot be told (unknown stream, bad hash key) is let through for the
// backend to judge.
func (s *Server) shardAllows(r *http.Request, c Call, beh AWSBehaviours, rec kinesisRecord, name, arn string) (string, bool) {
	shards, err := s.openShards(r, c, name, arn)
	if err != nil {
		s.log.Debug("kinesis shard limits not checked", "stream", streamName(name, arn), "err", err)
		return "", true
	}
	shard, ok := shardFor(shards, rec.PartitionKey, rec.ExplicitHashKey)
	if !ok {
		return "", true
	}
	data, err := base64.StdEncoding.DecodeString(rec.Data)
	if err != nil {
		return shard, true
	}
	size := int64(len(data) + len(rec.PartitionKey))
	key := scopeRegion(r.Header.Get("Authorization")) + "\x00" + streamName(name, arn) + "\x00" + shard
	ok = s.shardRate.take(key, beh.Now(), 1, int64(beh.KinesisShardRecordsPerSecond), size, int64(beh.KinesisShardBytesPerSecond))
	return shard, ok
}
