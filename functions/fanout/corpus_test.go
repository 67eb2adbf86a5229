package fanout

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// corpusEvents reads testdata/apache_combined_10k.log as TD events (time
// from the log line) and returns their raw msgpack maps.
func corpusEvents(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open("testdata/apache_combined_10k.log")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 0; sc.Scan(); n++ {
		line := sc.Text()
		i, j := strings.IndexByte(line, '['), strings.IndexByte(line, ']')
		ts, err := time.Parse("02/Jan/2006:15:04:05 -0700", line[i+1:j])
		if err != nil {
			tb.Fatalf("line %d: %v", n, err)
		}
		b, err := msgpack.Marshal(map[string]any{"time": ts.Unix(), "message": line, "line_no": n})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// corpusBatches packs events into envelopes of per events, batches of size records.
func corpusBatches(tb testing.TB, evs [][]byte, uid string, per, size int) []events.KinesisEvent {
	tb.Helper()
	parts := (len(evs) + per - 1) / per
	var batches []events.KinesisEvent
	var cur events.KinesisEvent
	for p := 0; p < parts; p++ {
		chunk := evs[p*per : min(len(evs), (p+1)*per)]
		data, err := envelope.Marshal(&envelope.Envelope{DB: "corpus_db", Table: "apache", UniqueID: uid, Part: p, Parts: parts,
			Producer: "test", Events: len(chunk), Encoding: envelope.EncodingGzip, Payload: tdrecord.GzipStream(chunk...)})
		if err != nil {
			tb.Fatal(err)
		}
		cur.Records = append(cur.Records, rawRecord(p+1, data))
		if len(cur.Records) == size {
			batches = append(batches, cur)
			cur = events.KinesisEvent{}
		}
	}
	if len(cur.Records) > 0 {
		batches = append(batches, cur)
	}
	return batches
}

func hashes(raws [][]byte) []string {
	out := make([]string, len(raws))
	for i, r := range raws {
		s := sha256.Sum256(r)
		out[i] = hex.EncodeToString(s[:])
	}
	sort.Strings(out)
	return out
}

// stagedHashes returns the sorted hashes of every event in staged/.
func (e *testEnv) stagedHashes(tb testing.TB) []string {
	tb.Helper()
	var raws [][]byte
	for _, k := range e.keys(tb, "staged/") {
		obj, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(k)})
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		evs, _, err := DecodePayload(envelope.EncodingGzip, body, 1<<30)
		if err != nil {
			tb.Fatal(err)
		}
		for _, ev := range evs {
			raws = append(raws, bytes.Clone(ev.Raw))
		}
	}
	return hashes(raws)
}

// TestCorpusExactlyOnce pushes the 10k Apache corpus through fanout with a
// crash in the middle and a full redelivery; staged objects must hold each
// event exactly once and the catalog must count 10,000.
func TestCorpusExactlyOnce(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	evs := corpusEvents(t)
	if len(evs) != 10000 {
		t.Fatalf("corpus has %d events", len(evs))
	}
	batches := corpusBatches(t, evs, "corpus-1", 250, 10)
	now := time.Date(2015, 5, 22, 0, 0, 0, 0, time.UTC)
	crashOnce := true
	h := e.handler(t, now, WithFault(func(_ context.Context, p string) error {
		if p == "after-stage-s3" && crashOnce {
			crashOnce = false
			return errCrash
		}
		return nil
	}))
	for round := 0; round < 2; round++ {
		for i, b := range batches {
			resp, err := h.Handle(ctx, b)
			if errors.Is(err, errCrash) {
				if resp, err = h.Handle(ctx, b); err != nil {
					t.Fatalf("redelivery of batch %d: %v", i, err)
				}
			}
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("round %d batch %d: %v %+v", round, i, err, resp)
			}
		}
	}
	c := e.catalog(t, "corpus_db", "apache")
	if c.Count != 10000 {
		t.Errorf("catalog count = %d, want 10000", c.Count)
	}
	var total int64
	for _, r := range evs {
		total += int64(len(r))
	}
	if c.Bytes != total {
		t.Errorf("catalog bytes = %d, want %d", c.Bytes, total)
	}
	if got, want := e.stagedHashes(t), hashes(evs); !slices.Equal(got, want) {
		t.Errorf("staged record hashes differ from the corpus: %d vs %d records", len(got), len(want))
	}
	if c.Schema["message"] != TypeString || c.Schema["line_no"] != TypeLong {
		t.Errorf("schema = %v", c.Schema)
	}
}
