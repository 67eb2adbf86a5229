package edge

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"testing"
)

func FuzzParseFaults(f *testing.F) {
	f.Add([]byte("rules:\n  - service: kinesis\n    operation: PutRecords\n    rate: 0.1\n    partial_failure: 0.5\n"))
	f.Add([]byte(`{"seed":3,"rules":[{"service":"s3","next":1,"status":503,"code":"SlowDown","latency":"1ms"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseFaults(b)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseFaults accepted an invalid config: %v", err)
		}
		in := newInjector(1)
		in.set(c)
		in.pick(Call{Service: "kinesis", Operation: "PutRecords"})
	})
}

func FuzzPutRecordsSplit(f *testing.F) {
	f.Add([]byte(`{"StreamName":"s","Records":[{"Data":"YQ==","PartitionKey":"p"},{"Data":"Yg==","PartitionKey":"q"}]}`), 0.5)
	f.Add([]byte(`{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s","Records":[{"Data":"YQ==","PartitionKey":"p"}]}`), 1.0)
	f.Fuzz(func(t *testing.T, b []byte, fraction float64) {
		req, err := parsePutRecords(b)
		if err != nil {
			return
		}
		if !(fraction > 0 && fraction <= 1) {
			fraction = 0.5
		}
		n := len(req.records)
		fail := newInjector(1).failIndexes(n, fraction)
		keep := complement(n, fail)
		sub, err := req.body(keep)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := parsePutRecords(sub)
		if len(keep) > 0 && (err != nil || len(again.records) != len(keep)) {
			t.Fatalf("re-encoded body has %d records (err %v), want %d", len(again.records), err, len(keep))
		}
		backend := putRecordsResponse{}
		for range keep {
			backend.Records = append(backend.Records, json.RawMessage(`{"SequenceNumber":"1","ShardId":"shardId-000000000000"}`))
		}
		bb, _ := json.Marshal(backend)
		failed := map[int]string{}
		for _, i := range fail {
			failed[i] = "Rate exceeded"
		}
		merged, injected, err := mergePutRecords(n, keep, bb, failed)
		if err != nil {
			t.Fatalf("merge: %v", err)
		}
		var out putRecordsResponse
		if err := json.Unmarshal(merged, &out); err != nil || len(out.Records) != n || out.FailedRecordCount != len(fail) || injected != len(fail) {
			t.Fatalf("merged %d records, %d failed (err %v); want %d, %d", len(out.Records), out.FailedRecordCount, err, n, len(fail))
		}
	})
}

func FuzzClassify(f *testing.F) {
	f.Add("POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Afunction%3Af/invocations", "AWS4-HMAC-SHA256 Credential=t/20260101/us-east-1/lambda/aws4_request", "", "")
	f.Add("POST", "/", "", "Kinesis_20131202.PutRecords", "")
	f.Add("GET", "/bucket/key?list-type=2", "AWS4-HMAC-SHA256 Credential=t/20260101/us-east-1/s3/aws4_request", "", "Action=X")
	f.Fuzz(func(t *testing.T, method, target, auth, amzTarget, form string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Host != "" || len(method) == 0 {
			return
		}
		for _, c := range method {
			if c < 'A' || c > 'Z' {
				return
			}
		}
		r := httptest.NewRequest(method, "http://edge"+u.RequestURI(), nil)
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Target", amzTarget)
		vals, _ := url.ParseQuery(form)
		c := Classify(r, vals)
		if c.Operation == "Invoke" && c.Service != "lambda" {
			t.Fatalf("Invoke classified for service %q", c.Service)
		}
		protocolOf(r, c)
	})
}
