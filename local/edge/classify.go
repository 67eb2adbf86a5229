package edge

import (
	"net/http"
	"net/url"
	"strings"
)

// Call names the AWS service and operation one request addresses.
type Call struct {
	// Service is the SigV4 signing name, lower case: kinesis, dynamodb, s3,
	// lambda, apigateway, events, secretsmanager, sqs, iam, sts, kms, logs,
	// monitoring, ... Empty when the request names no service.
	Service string
	// Operation is the API operation (PutRecords, PutItem, PutObject, Invoke,
	// ...) when it can be told from the request, else empty.
	Operation string
	// Function is the Lambda function name of an Invoke call.
	Function string
}

// targetPrefixes maps X-Amz-Target prefixes to signing names.
var targetPrefixes = map[string]string{
	"kinesis_20131202":              "kinesis",
	"dynamodb_20120810":             "dynamodb",
	"dynamodbstreams_20120810":      "dynamodb",
	"awsevents":                     "events",
	"secretsmanager":                "secretsmanager",
	"amazonsqs":                     "sqs",
	"trentservice":                  "kms",
	"logs_20140328":                 "logs",
	"graniteserviceversion20100801": "monitoring",
	"awsiesoftwareservice":          "ssm",
	"amazonssm":                     "ssm",
}

// Classify tells which service and operation a request addresses, from the
// SigV4 credential scope, X-Amz-Target, and the request's shape. It never
// reads the body except for a form-encoded query-protocol Action, which the
// caller passes as form (may be nil).
func Classify(r *http.Request, form url.Values) Call {
	var c Call
	c.Service = scopeService(r.Header.Get("Authorization"))
	if c.Service == "" {
		c.Service = scopeService(r.URL.Query().Get("X-Amz-Credential"))
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		prefix, op, ok := strings.Cut(t, ".")
		if ok {
			c.Operation = op
			if c.Service == "" {
				c.Service = targetPrefixes[strings.ToLower(prefix)]
			}
		}
	}
	if c.Service == "" && strings.HasPrefix(r.URL.Path, "/2015-03-31/") {
		c.Service = "lambda"
	}
	if c.Operation == "" {
		if a := r.URL.Query().Get("Action"); a != "" {
			c.Operation = a
		} else if a := form.Get("Action"); a != "" {
			c.Operation = a
		}
	}
	switch c.Service {
	case "lambda":
		if c.Operation == "" {
			c.Operation, c.Function = lambdaOperation(r.Method, r.URL.EscapedPath())
		}
	case "s3":
		if c.Operation == "" {
			c.Operation = s3Operation(r)
		}
	}
	return c
}

// scopeService returns the service of a SigV4 credential scope found in an
// Authorization header ("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, ...")
// or a presigned X-Amz-Credential value.
func scopeService(s string) string {
	if s == "" {
		return ""
	}
	if i := strings.Index(s, "Credential="); i >= 0 {
		s = s[i+len("Credential="):]
	}
	if i := strings.IndexAny(s, ", "); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, "/")
	if len(parts) < 5 || parts[len(parts)-1] != "aws4_request" {
		return ""
	}
	return strings.ToLower(parts[len(parts)-2])
}

// lambdaOperation names the Lambda REST operations the local cloud uses.
// path is the escaped path.
func lambdaOperation(method, path string) (op, function string) {
	rest, ok := strings.CutPrefix(path, "/2015-03-31/functions/")
	if ok {
		name, tail, _ := strings.Cut(rest, "/")
		if n, err := url.PathUnescape(name); err == nil {
			name = n
		}
		name = functionName(name)
		switch {
		case method == http.MethodPost && tail == "invocations":
			return "Invoke", name
		case method == http.MethodGet && tail == "configuration":
			return "GetFunctionConfiguration", name
		case method == http.MethodGet && tail == "":
			return "GetFunction", name
		case method == http.MethodDelete && tail == "":
			return "DeleteFunction", name
		}
		return "", name
	}
	if strings.HasPrefix(path, "/2015-03-31/event-source-mappings") {
		switch method {
		case http.MethodGet:
			if strings.Trim(strings.TrimPrefix(path, "/2015-03-31/event-source-mappings"), "/") == "" {
				return "ListEventSourceMappings", ""
			}
			return "GetEventSourceMapping", ""
		case http.MethodPost:
			return "CreateEventSourceMapping", ""
		}
	}
	if method == http.MethodPost && strings.TrimSuffix(path, "/") == "/2015-03-31/functions" {
		return "CreateFunction", ""
	}
	return "", ""
}

// functionName reduces a function name, partial ARN or full ARN, with or
// without a qualifier, to the bare name.
func functionName(s string) string {
	if i := strings.Index(s, "function:"); i >= 0 {
		s = s[i+len("function:"):]
	}
	if name, _, ok := strings.Cut(s, ":"); ok {
		s = name
	}
	return s
}

// s3Operation names common S3 operations from method, path and query.
func s3Operation(r *http.Request) string {
	q := r.URL.Query()
	path := strings.TrimPrefix(r.URL.Path, "/")
	_, key, hasKey := strings.Cut(path, "/")
	hasKey = hasKey && key != ""
	switch r.Method {
	case http.MethodGet:
		switch {
		case !hasKey && q.Has("policy"):
			return "GetBucketPolicy"
		case !hasKey && path == "":
			return "ListBuckets"
		case !hasKey && q.Get("list-type") == "2":
			return "ListObjectsV2"
		case !hasKey:
			return "ListObjects"
		case q.Has("uploadId"):
			return "ListParts"
		default:
			return "GetObject"
		}
	case http.MethodHead:
		if hasKey {
			return "HeadObject"
		}
		return "HeadBucket"
	case http.MethodPut:
		switch {
		case !hasKey && q.Has("policy"):
			return "PutBucketPolicy"
		case !hasKey:
			return "CreateBucket"
		case q.Has("partNumber"):
			return "UploadPart"
		case r.Header.Get("X-Amz-Copy-Source") != "":
			return "CopyObject"
		default:
			return "PutObject"
		}
	case http.MethodPost:
		switch {
		case q.Has("delete"):
			return "DeleteObjects"
		case q.Has("uploads"):
			return "CreateMultipartUpload"
		case q.Has("uploadId"):
			return "CompleteMultipartUpload"
		}
	case http.MethodDelete:
		switch {
		case !hasKey && q.Has("policy"):
			return "DeleteBucketPolicy"
		case !hasKey:
			return "DeleteBucket"
		case q.Has("uploadId"):
			return "AbortMultipartUpload"
		default:
			return "DeleteObject"
		}
	}
	return ""
}

// serialisedWrites lists, per service, the write operations the edge runs one
// at a time at the backend (moto lost Kinesis records under concurrent
// writers; moto's TransactWriteItems snapshots and restores whole tables).
// DynamoDB transaction conflicts are decided before a write waits for its
// turn, so serialising hides none (see holds).
var serialisedWrites = map[string]map[string]bool{
	"kinesis": {"PutRecord": true, "PutRecords": true},
	"dynamodb": {"PutItem": true, "UpdateItem": true, "DeleteItem": true,
		"BatchWriteItem": true, "TransactWriteItems": true},
}
