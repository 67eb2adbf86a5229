package edge

import (
	"math"
	"net/http"
	"strings"
)

// AWS's S3 error messages for the limits the edge enforces.
const (
	msgKeyTooLong = "Your key is too long"
	msgSlowDown   = "Please reduce your request rate."
)

// s3Limits answers an S3 request that breaks a limit AWS has and moto does
// not: KeyTooLongError for an object key over 1,024 bytes, SlowDown (503)
// when the request's prefix is over its per-second rate. It reports whether
// it answered. Requests are path-style (/bucket/key), as the local cloud's
// clients send them.
func (s *Server) s3Limits(w http.ResponseWriter, r *http.Request, c Call) bool {
	beh := s.AWSBehaviours()
	bucket, key, hasKey := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	objectCall := hasKey && key != ""
	if !objectCall && c.Operation != "DeleteObjects" {
		return false
	}
	if objectCall && !beh.NoS3KeyLimit && len(key) > S3MaxKeyBytes {
		s.log.Info("s3 key too long", "bucket", bucket, "bytes", len(key))
		s.faults.add(counterKey(c, "KeyTooLongError"), 1)
		writeAWSError(w, r, c, http.StatusBadRequest, "KeyTooLongError", msgKeyTooLong)
		return true
	}
	if beh.NoS3SlowDown {
		return false
	}
	class, limit := "write", beh.S3WritesPerSecond
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		class, limit = "read", beh.S3ReadsPerSecond
	}
	prefix := ""
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		prefix = key[:i+1]
	}
	if s.s3Rate.take(class+"\x00"+bucket+"/"+prefix, beh.Now(), 1, int64(limit), 0, math.MaxInt64) {
		return false
	}
	s.log.Info("s3 slow down", "bucket", bucket, "prefix", prefix, "class", class, "limit", limit)
	s.faults.add(counterKey(c, "SlowDown"), 1)
	writeAWSError(w, r, c, http.StatusServiceUnavailable, "SlowDown", msgSlowDown)
	return true
}
