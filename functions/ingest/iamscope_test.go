package ingest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/spillwayhq/spillway/functions/ingest/apikeys"
)

// sigv4Req is a request API Gateway's IAM authorizer verified for caller.
func sigv4Req(method, path, caller string) events.APIGatewayV2HTTPRequest {
	r := apiReq(method, path, "", "", nil)
	r.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{AccessKey: "AKIDEXAMPLE", UserARN: caller},
	}
	return r
}

func TestIAMCallersAreScoped(t *testing.T) {
	const (
		ops     = "arn:aws:iam::123456789012:user/ops"
		flusher = "arn:aws:sts::123456789012:assumed-role/flusher/session-1"
		other   = "arn:aws:iam::123456789012:user/other"
		nobody  = "arn:aws:iam::123456789012:user/nobody"
	)
	scopes := map[string]IAMScope{
		ops: {Databases: []string{"testdb"}, Read: true, Write: true},
		// A role ARN with a path matches its assumed-role sessions.
		"arn:aws:iam::123456789012:role/team/flusher": {Databases: []string{"testdb"}, Flush: true},
		other: {Databases: []string{"otherdb"}, Read: true, Write: true, Flush: true},
	}
	tests := []struct {
		name   string
		mode   string
		scopes map[string]IAMScope
		method string
		path   string
		caller string
		status int
	}{
		{name: "list own database", method: "GET", path: "/v3/table/list/testdb", caller: ops, status: 200},
		{name: "list another database", method: "GET", path: "/v3/table/list/testdb", caller: other, status: 403},
		{name: "database list needs a read scope", method: "GET", path: "/v3/database/list", caller: flusher, status: 403},
		{name: "create in another database", method: "POST", path: "/v3/table/create/testdb/table_two", caller: other, status: 403},
		{name: "flush without flush permission", method: "POST", path: "/v1/flush?db=testdb", caller: ops, status: 403},
		{name: "flush by assumed role of a pathed role", method: "POST", path: "/v1/flush?db=testdb", caller: flusher, status: 202},
		{name: "flush another database", method: "POST", path: "/v1/flush?db=testdb", caller: other, status: 403},
		{name: "flush everything with a scoped principal", method: "POST", path: "/v1/flush", caller: other, status: 403},
		{name: "unlisted principal", method: "GET", path: "/v3/table/list/testdb", caller: nobody, status: 403},
		{name: "unlisted principal, iam mode", mode: AuthIAM, method: "GET", path: "/v3/table/list/testdb", caller: nobody, status: 403},
		{name: "any principal entry", scopes: map[string]IAMScope{AnyPrincipal: {Databases: []string{"*"}, Read: true}}, method: "GET", path: "/v3/table/list/testdb", caller: nobody, status: 200},
		{name: "no scopes at all", scopes: map[string]IAMScope{}, method: "GET", path: "/v3/table/list/testdb", caller: ops, status: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, func(c *Config) {
				c.IAMScopes = scopes
				if tc.scopes != nil {
					c.IAMScopes = tc.scopes
				}
				if tc.mode != "" {
					c.AuthMode = tc.mode
				}
			})
			resp := env.call(t, sigv4Req(tc.method, tc.path, tc.caller))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
		})
	}
}

func TestPrincipalCandidates(t *testing.T) {
	tests := []struct {
		name   string
		caller string
		want   []string
	}{
		{name: "user", caller: "arn:aws:iam::1:user/a", want: []string{"arn:aws:iam::1:user/a", AnyPrincipal}},
		{name: "assumed role", caller: "arn:aws-cn:sts::1:assumed-role/r/s", want: []string{"arn:aws-cn:sts::1:assumed-role/r/s", "arn:aws-cn:iam::1:role/r", AnyPrincipal}},
		{name: "none", caller: "", want: []string{AnyPrincipal}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := principalCandidates(tc.caller)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v want %v", got, tc.want)
				}
			}
		})
	}
}

// TestUnknownKeysCachedNegatively: a refused key is answered from memory
// for NegativeCacheTTL, with the same message whether it is unknown or
// revoked. The key is stored right after the first refusal: a DynamoDB
// read would now accept it, so a 401 proves no read happened.
func TestUnknownKeysCachedNegatively(t *testing.T) {
	tests := []struct {
		name   string
		ttl    time.Duration
		wait   time.Duration
		status int
	}{
		{name: "within the TTL", ttl: 10 * time.Second, wait: 5 * time.Second, status: http.StatusUnauthorized},
		{name: "after the TTL", ttl: 10 * time.Second, wait: 11 * time.Second, status: http.StatusOK},
		{name: "disabled", ttl: 0, status: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, func(c *Config) { c.NegativeCacheTTL = tc.ttl })
			req := apiReq("GET", "/v3/table/list/testdb", "new-key", "", nil)
			if resp := env.call(t, req); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("unknown key: status %d", resp.StatusCode)
			}
			env.ddb.put("apikeys", item{
				"key_hash": &ddbtypes.AttributeValueMemberS{Value: apikeys.Hash("new-key")}, "name": &ddbtypes.AttributeValueMemberS{Value: "new"},
				"databases": &ddbtypes.AttributeValueMemberSS{Value: []string{"testdb"}}, "can_read": &ddbtypes.AttributeValueMemberBOOL{Value: true},
			})
			_ = env.clock.Sleep(context.Background(), tc.wait)
			if resp := env.call(t, req); resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
		})
	}
}

func TestNegativeCacheBounded(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := negativeCache{ttl: time.Minute, max: 3, now: func() time.Time { return now }}
	for _, h := range []string{"a", "b", "c", "d"} {
		c.add(h)
	}
	if len(c.m) > 3 || !c.has("d") {
		t.Fatalf("cache holds %d entries, want at most 3 including the newest", len(c.m))
	}
}
