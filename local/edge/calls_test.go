package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestCallsCounted: every request through the edge is counted by service
// and operation with its body bytes, a refused one too; the control
// endpoint reports and resets the counts.
func TestCallsCounted(t *testing.T) {
	s := startEdge(t, Config{})
	ctx := context.Background()
	cl := s3.NewFromConfig(awsConfig(t, s.URL()), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := uniqueName(t, "calls")
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("12345")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("missing")}); err == nil {
		t.Fatal("GetObject of a missing key succeeded")
	}
	got := map[string]CallCount{}
	for _, c := range s.Calls() {
		got[c.Service+"."+c.Operation] = c
	}
	if p := got["s3.PutObject"]; p.Requests != 3 || p.RequestBytes != 15 {
		t.Errorf("PutObject counted %+v, want 3 requests of 15 bytes", p)
	}
	if g := got["s3.GetObject"]; g.Requests != 1 || g.ResponseBytes == 0 {
		t.Errorf("GetObject counted %+v, want 1 request with its error body", g)
	}
	resp, err := http.Get(s.URL() + "/_spillway/calls")
	if err != nil {
		t.Fatal(err)
	}
	var listed []CallCount
	err = json.NewDecoder(resp.Body).Decode(&listed)
	resp.Body.Close()
	if err != nil || len(listed) < 3 {
		t.Fatalf("GET /_spillway/calls: %v %+v", err, listed)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.URL()+"/_spillway/calls", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if left := s.Calls(); len(left) != 0 {
		t.Errorf("after reset: %+v", left)
	}
}
