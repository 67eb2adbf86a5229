package fanout

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// TestIdenticalRequestsStoredApart: requests that carry the same events but
// are distinct requests (ingest gives each its own unique_id: five identical
// in_http posts, two identical imports from two hosts) are stored once
// each, also when the batch is delivered again; only a repeated (unique_id,
// part) is dropped.
func TestIdenticalRequestsStoredApart(t *testing.T) {
	now := time.Unix(hourT+1800, 0)
	tests := []struct {
		name string
		enc  string
		n    int
	}{
		{"five in_http posts (zstd parts)", envelope.EncodingZstd, 5},
		{"two imports (gzip passed through)", envelope.EncodingGzip, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := msgpack.Marshal(map[string]any{"time": hourT + 1, "msg": "login"})
			if err != nil {
				t.Fatal(err)
			}
			payload := tdrecord.GzipStream(raw)
			if tc.enc == envelope.EncodingZstd {
				payload = encodeZstd(t, 0, raw)
			}
			var batch events.KinesisEvent
			for i := range tc.n {
				data, err := envelope.Marshal(&envelope.Envelope{DB: "db_one", Table: "tbl_a", UniqueID: fmt.Sprintf("%032x", i+1), Parts: 1,
					Producer: "10.0.0.1", Events: 1, ReceivedMS: 1, Encoding: tc.enc, Payload: payload})
				if err != nil {
					t.Fatal(err)
				}
				batch.Records = append(batch.Records, rawRecord(i+1, data))
			}
			e := newTestEnv(t)
			for delivery := range 2 {
				resp, err := e.handler(t, now).Handle(context.Background(), batch)
				if err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("delivery %d: %v %+v", delivery, err, resp)
				}
			}
			if c := e.catalog(t, "db_one", "tbl_a"); c.Count != int64(tc.n) {
				t.Fatalf("catalog counts %d events, want %d", c.Count, tc.n)
			}
			if got := e.stagedEvents(t, "staged/"); len(got) != tc.n {
				t.Fatalf("staged events %v, want %d", got, tc.n)
			}
		})
	}
}
