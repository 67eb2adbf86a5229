package edge

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestClassify(t *testing.T) {
	auth := func(svc string) string {
		return "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/" + svc + "/aws4_request, SignedHeaders=host, Signature=abc"
	}
	tests := []struct {
		name   string
		method string
		target string
		header map[string]string
		form   url.Values
		want   Call
	}{
		{"kinesis by scope and target", "POST", "/", map[string]string{"Authorization": auth("kinesis"), "X-Amz-Target": "Kinesis_20131202.PutRecords"}, nil, Call{Service: "kinesis", Operation: "PutRecords"}},
		{"dynamodb by target only", "POST", "/", map[string]string{"X-Amz-Target": "DynamoDB_20120810.TransactWriteItems"}, nil, Call{Service: "dynamodb", Operation: "TransactWriteItems"}},
		{"events", "POST", "/", map[string]string{"Authorization": auth("events"), "X-Amz-Target": "AWSEvents.DescribeRule"}, nil, Call{Service: "events", Operation: "DescribeRule"}},
		{"s3 put object", "PUT", "/bucket/staged/a.gz", map[string]string{"Authorization": auth("s3")}, nil, Call{Service: "s3", Operation: "PutObject"}},
		{"s3 copy object", "PUT", "/bucket/b", map[string]string{"Authorization": auth("s3"), "X-Amz-Copy-Source": "/bucket/a"}, nil, Call{Service: "s3", Operation: "CopyObject"}},
		{"s3 list v2", "GET", "/bucket?list-type=2&prefix=data/", map[string]string{"Authorization": auth("s3")}, nil, Call{Service: "s3", Operation: "ListObjectsV2"}},
		{"s3 get", "GET", "/bucket/k", map[string]string{"Authorization": auth("s3")}, nil, Call{Service: "s3", Operation: "GetObject"}},
		{"s3 create bucket", "PUT", "/bucket", map[string]string{"Authorization": auth("s3")}, nil, Call{Service: "s3", Operation: "CreateBucket"}},
		{"s3 put bucket policy", "PUT", "/bucket?policy", map[string]string{"Authorization": auth("s3")}, nil, Call{Service: "s3", Operation: "PutBucketPolicy"}},
		{"s3 get bucket policy", "GET", "/bucket?policy", map[string]string{"Authorization": auth("s3")}, nil, Call{Service: "s3", Operation: "GetBucketPolicy"}},
		{"s3 multi delete", "POST", "/bucket?delete", map[string]string{"Authorization": auth("s3")}, nil, Call{Service: "s3", Operation: "DeleteObjects"}},
		{"s3 upload part", "PUT", "/bucket/k?partNumber=1&uploadId=x", map[string]string{"Authorization": auth("s3")}, nil, Call{Service: "s3", Operation: "UploadPart"}},
		{"lambda invoke by name", "POST", "/2015-03-31/functions/sp-flush/invocations", map[string]string{"Authorization": auth("lambda")}, nil, Call{Service: "lambda", Operation: "Invoke", Function: "sp-flush"}},
		{"lambda invoke by arn with qualifier", "POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Asp-flush%3Alive/invocations", nil, nil, Call{Service: "lambda", Operation: "Invoke", Function: "sp-flush"}},
		{"lambda configuration", "GET", "/2015-03-31/functions/sp-ingest/configuration", map[string]string{"Authorization": auth("lambda")}, nil, Call{Service: "lambda", Operation: "GetFunctionConfiguration", Function: "sp-ingest"}},
		{"lambda esm list", "GET", "/2015-03-31/event-source-mappings/?FunctionName=x", map[string]string{"Authorization": auth("lambda")}, nil, Call{Service: "lambda", Operation: "ListEventSourceMappings"}},
		{"query protocol form action", "POST", "/", map[string]string{"Authorization": auth("iam")}, url.Values{"Action": {"CreateRole"}}, Call{Service: "iam", Operation: "CreateRole"}},
		{"query protocol url action", "GET", "/?Action=GetCallerIdentity", map[string]string{"Authorization": auth("sts")}, nil, Call{Service: "sts", Operation: "GetCallerIdentity"}},
		{"presigned s3", "GET", "/b/k?X-Amz-Credential=test%2F20261122%2Fus-east-1%2Fs3%2Faws4_request", nil, nil, Call{Service: "s3", Operation: "GetObject"}},
		{"unsigned unknown", "GET", "/whatever", nil, nil, Call{}},
		{"malformed scope", "POST", "/", map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=garbage"}, nil, Call{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := Classify(r, tt.form); got != tt.want {
				t.Fatalf("Classify = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestProtocolOf(t *testing.T) {
	tests := []struct {
		name   string
		target string
		call   Call
		want   protocol
	}{
		{"json target", "Kinesis_20131202.PutRecords", Call{Service: "kinesis"}, protoJSON},
		{"s3", "", Call{Service: "s3"}, protoRESTXML},
		{"lambda", "", Call{Service: "lambda"}, protoRESTJSON},
		{"iam", "", Call{Service: "iam"}, protoQuery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if tt.target != "" {
				r.Header.Set("X-Amz-Target", tt.target)
			}
			if got := protocolOf(r, tt.call); got != tt.want {
				t.Fatalf("protocolOf = %v, want %v", got, tt.want)
			}
		})
	}
}
