package replay

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/layout"
)

// quarantineDoc stores data as fanout quarantines a record and returns the key.
func (e *testEnv) quarantineDoc(tb testing.TB, seq, reason string, data []byte) string {
	tb.Helper()
	pk := "junk"
	if env, err := envelope.Unmarshal(data); err == nil {
		pk = envelope.PartitionKey(env)
	}
	doc, err := json.Marshal(fanout.QuarantineRecord{Reason: reason, EventSourceARN: e.arn, ShardID: "shardId-000000000000",
		SequenceNumber: seq, PartitionKey: pk, ArrivalUnixMS: 1, Data: data})
	if err != nil {
		tb.Fatal(err)
	}
	key := layout.QuarantineRecordKey("shardId-000000000000", seq)
	e.putObject(tb, key, doc)
	return key
}

// TestReplayRecords: quarantined records go back into the stream with
// their bytes and partition keys and fanout stores each event once, a part
// it already stored included; a dry run and a second replay change nothing;
// a replay interrupted before its delete is safe to repeat; records that are
// not envelopes stay unless forced.
func TestReplayRecords(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	ts := now.Unix()
	stored := envelopeData(t, "web", "access", "u1", ts, ts) // stored, then quarantined on a redelivery
	unstored := envelopeData(t, "web", "access", "u2", ts)   // quarantined before it was stored
	e.putStream(t, stored)
	e.fanoutNew(t, now)
	kStored := e.quarantineDoc(t, "1", "injected", stored)
	kUnstored := e.quarantineDoc(t, "2", "unknown table web.access and auto-create is off", unstored)
	kJunk := e.quarantineDoc(t, "3", "not a spillway envelope", []byte("Hello World"))

	before := e.state(t)
	res, out := e.replay(t, SourceRecords, now, func(c *Config) { c.DryRun = true })
	if want := (Result{Source: SourceRecords, Found: 3, Replayed: 2, Left: 1}); res != want {
		t.Fatalf("dry run = %+v, want %+v\n%s", res, want, out)
	}
	if !strings.Contains(out, "would put "+kStored) || !strings.Contains(out, "would put "+kUnstored) || !strings.Contains(out, "left "+kJunk) {
		t.Errorf("dry run report:\n%s", out)
	}
	if after := e.state(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("dry run changed state:\n%+v\n%+v", before, after)
	}

	res, out = e.replay(t, SourceRecords, now, nil)
	if want := (Result{Source: SourceRecords, Found: 3, Replayed: 2, Left: 1}); res != want {
		t.Fatalf("replay = %+v, want %+v\n%s", res, want, out)
	}
	recs := e.streamRecords(t)
	if len(recs) != 3 || !bytes.Equal(recs[1].Data, stored) || !bytes.Equal(recs[2].Data, unstored) {
		t.Fatalf("stream holds %d records, want the original and the two replayed ones byte for byte", len(recs))
	}
	if left := e.objects(t, layout.PrefixQuarantine); len(left) != 1 || left[kJunk] == "" {
		t.Fatalf("quarantine after replay = %v, want only %s", left, kJunk)
	}
	e.fanoutNew(t, now)
	want := []string{"u1-0", "u1-1", "u2-0"}
	if got := e.stored(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("fanout stored %v, want %v", got, want)
	}

	before = e.state(t)
	res, _ = e.replay(t, SourceRecords, now, nil)
	if want := (Result{Source: SourceRecords, Found: 1, Left: 1}); res != want {
		t.Fatalf("second replay = %+v, want %+v", res, want)
	}
	if after := e.state(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("second replay changed state:\n%+v\n%+v", before, after)
	}

	// Interrupted after the put, before the delete: the object is back.
	e.quarantineDoc(t, "2", "unknown table", unstored)
	if res, _ := e.replay(t, SourceRecords, now, nil); res.Replayed != 1 {
		t.Fatalf("replay after interruption = %+v", res)
	}
	e.fanoutNew(t, now)
	if got := e.stored(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a repeated replay fanout stored %v, want %v", got, want)
	}

	res, _ = e.replay(t, SourceRecords, now, func(c *Config) { c.Force = true })
	if res.Replayed != 1 || len(e.objects(t, layout.PrefixQuarantine)) != 0 {
		t.Fatalf("forced replay = %+v", res)
	}
	if recs := e.streamRecords(t); string(recs[len(recs)-1].Data) != "Hello World" || *recs[len(recs)-1].PartitionKey != "junk" {
		t.Fatalf("forced record not put back as recorded")
	}
}
