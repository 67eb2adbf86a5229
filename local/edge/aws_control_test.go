package edge

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestAWSControlEndpoint(t *testing.T) {
	e := startEdge(t, Config{})
	call := func(method, body string) (int, AWSBehaviours) {
		req, err := http.NewRequest(method, e.URL()+"/_spillway/aws", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		var b AWSBehaviours
		_ = json.NewDecoder(resp.Body).Decode(&b)
		return resp.StatusCode, b
	}
	tests := []struct {
		name, method, body string
		status             int
		check              func(AWSBehaviours) bool
	}{
		{"defaults are AWS's", http.MethodGet, "", 200, func(b AWSBehaviours) bool {
			return !b.NoTransactionConflicts && !b.NoDynamoDBLimits && !b.NoS3KeyLimit && !b.NoS3SlowDown && !b.NoKinesisShardLimits &&
				b.S3WritesPerSecond == 3500 && b.S3ReadsPerSecond == 5500 && b.KinesisShardRecordsPerSecond == 1000 && b.KinesisShardBytesPerSecond == 1<<20
		}},
		{"switch one off, lower a rate", http.MethodPost, `{"no_transaction_conflicts":true,"s3_writes_per_second":5}`, 200, func(b AWSBehaviours) bool {
			return b.NoTransactionConflicts && b.S3WritesPerSecond == 5 && b.S3ReadsPerSecond == 5500
		}},
		{"unknown key refused", http.MethodPost, `{"no_conflicts":true}`, 400, nil},
		{"negative rate refused", http.MethodPost, `{"kinesis_shard_records_per_second":-1}`, 400, nil},
		{"refusals changed nothing", http.MethodGet, "", 200, func(b AWSBehaviours) bool { return b.NoTransactionConflicts && b.S3WritesPerSecond == 5 }},
		{"DELETE restores AWS", http.MethodDelete, "", 200, func(b AWSBehaviours) bool { return !b.NoTransactionConflicts && b.S3WritesPerSecond == 3500 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, b := call(tt.method, tt.body)
			if status != tt.status || (tt.check != nil && !tt.check(b)) {
				t.Fatalf("status %d, behaviours %+v", status, b)
			}
		})
	}
	if _, err := New(Config{Backend: "http://127.0.0.1:1", AWS: AWSBehaviours{S3ReadsPerSecond: -5}}); err == nil || !strings.Contains(err.Error(), "edge.Config.AWS: S3ReadsPerSecond") {
		t.Fatalf("New with a negative rate: %v", err)
	}
}
