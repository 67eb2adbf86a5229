package edge

import (
	"io"
	"net/http"
	"strings"
	"sync"
)

// bucketPolicies keeps S3 bucket policies in the edge instead of moto.
//
// moto evaluates a bucket policy on every object call but ignores its
// Conditions, so a conditional Deny (the usual "DenyInsecureTransport":
// Deny s3:* when aws:SecureTransport is false) denies everything. The edge
// therefore answers PutBucketPolicy, GetBucketPolicy and DeleteBucketPolicy
// itself: Terraform reads back exactly the policy it wrote, and the policy is
// not enforced locally (Config.ForwardBucketPolicies restores moto's
// behaviour).
type bucketPolicies struct {
	mu       sync.Mutex
	policies map[string][]byte
}

// isBucketPolicyCall reports a PutBucketPolicy, GetBucketPolicy or
// DeleteBucketPolicy request.
func isBucketPolicyCall(r *http.Request, c Call) bool {
	if c.Service != "s3" || !r.URL.Query().Has("policy") {
		return false
	}
	bucket := strings.Trim(r.URL.Path, "/")
	return bucket != "" && !strings.Contains(bucket, "/")
}

func (bp *bucketPolicies) serve(w http.ResponseWriter, r *http.Request, c Call) {
	bucket := strings.Trim(r.URL.Path, "/")
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if bp.policies == nil {
		bp.policies = map[string][]byte{}
	}
	switch r.Method {
	case http.MethodPut:
		b, err := io.ReadAll(io.LimitReader(r.Body, 20<<10+1))
		if err != nil || len(b) > 20<<10 {
			writeAWSError(w, r, c, http.StatusBadRequest, "PolicyTooLarge", "policy unreadable or larger than 20 KB")
			return
		}
		bp.policies[bucket] = b
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		p, ok := bp.policies[bucket]
		if !ok {
			writeAWSError(w, r, c, http.StatusNotFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(p)
	case http.MethodDelete:
		delete(bp.policies, bucket)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeAWSError(w, r, c, http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed on ?policy")
	}
}
