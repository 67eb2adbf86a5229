package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/spillwayhq/spillway/functions/ingest/apikeys"
	"github.com/spillwayhq/spillway/shared/names"
)

// IAMScope is what one SigV4 (AWS_IAM) principal may do: the same scope an
// API key carries. Config.IAMScopes maps principal ARNs to scopes.
type IAMScope struct {
	Databases []string `json:"databases"`       // database names, or ["*"]
	Read      bool     `json:"read,omitempty"`  // list databases and tables
	Write     bool     `json:"write,omitempty"` // import and post
	Flush     bool     `json:"flush,omitempty"` // force POST /v1/flush
}

// AnyPrincipal keys the scope of every principal without an entry of its
// own. Without it, a principal that is not listed is refused (403).
const AnyPrincipal = "*"

// ParseIAMScopes reads SPILLWAY_IAM_SCOPES: a JSON object from principal ARN
// (an IAM user or role ARN, or AnyPrincipal) to IAMScope. "" means none.
func ParseIAMScopes(s string) (map[string]IAMScope, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var m map[string]IAMScope
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("IAM scopes: %w", err)
	}
	return m, nil
}

// validateIAMScopes checks every scope's databases and permissions.
func validateIAMScopes(m map[string]IAMScope) error {
	var errs []error
	for p, sc := range m {
		if p == "" {
			errs = append(errs, errors.New("IAMScopes: empty principal"))
		}
		if len(sc.Databases) == 0 {
			errs = append(errs, fmt.Errorf("IAMScopes[%s]: no databases", p))
		}
		for _, db := range sc.Databases {
			if db == apikeys.AllDatabases {
				continue
			}
			if err := names.Validate("database", db); err != nil {
				errs = append(errs, fmt.Errorf("IAMScopes[%s]: %w", p, err))
			}
		}
		if !sc.Read && !sc.Write && !sc.Flush {
			errs = append(errs, fmt.Errorf("IAMScopes[%s]: needs read, write or flush", p))
		}
	}
	return errors.Join(errs...)
}

// principalCandidates returns the keys Config.IAMScopes is searched under,
// most specific first: the caller ARN as API Gateway reports it; for an
// assumed role (arn:P:sts::A:assumed-role/R/S) also the role's IAM ARN
// arn:P:iam::A:role/R (role paths are not part of an assumed-role ARN, so
// configured role ARNs are compared without their path); then AnyPrincipal.
func principalCandidates(callerARN string) []string {
	var out []string
	if callerARN != "" {
		out = append(out, callerARN)
		if parts := strings.SplitN(callerARN, ":", 6); len(parts) == 6 && parts[2] == "sts" && strings.HasPrefix(parts[5], "assumed-role/") {
			if role, _, ok := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/"); ok {
				out = append(out, fmt.Sprintf("arn:%s:iam::%s:role/%s", parts[1], parts[4], role))
			}
		}
	}
	return append(out, AnyPrincipal)
}

// normalizePrincipal drops the path of an IAM role ARN
// (arn:P:iam::A:role/path/R -> arn:P:iam::A:role/R), see principalCandidates.
func normalizePrincipal(p string) string {
	parts := strings.SplitN(p, ":", 6)
	if len(parts) == 6 && parts[2] == "iam" && strings.HasPrefix(parts[5], "role/") {
		i := strings.LastIndex(parts[5], "/")
		parts[5] = "role/" + parts[5][i+1:]
		return strings.Join(parts, ":")
	}
	return p
}

// iamKey resolves the scope of a SigV4 caller as an apikeys.Key, so that
// authorize treats SigV4 callers and TD1 keys alike.
func (h *Handler) iamKey(ev *events.APIGatewayV2HTTPRequest) (*apikeys.Key, *apiError) {
	caller := ""
	if a := ev.RequestContext.Authorizer; a != nil && a.IAM != nil {
		caller = a.IAM.UserARN
	}
	scopes := make(map[string]IAMScope, len(h.cfg.IAMScopes))
	for p, sc := range h.cfg.IAMScopes {
		scopes[normalizePrincipal(p)] = sc
	}
	for _, c := range principalCandidates(caller) {
		if sc, ok := scopes[c]; ok {
			dbs := slices.Clone(sc.Databases)
			if slices.Contains(dbs, apikeys.AllDatabases) {
				dbs = []string{apikeys.AllDatabases}
			}
			return &apikeys.Key{Name: c, Databases: dbs, CanRead: sc.Read, CanWrite: sc.Write, CanFlush: sc.Flush}, nil
		}
	}
	return nil, reject(http.StatusForbidden, reasonForbidden, "caller %q has no Spillway scope (iam_principal_scopes)", caller)
}

// negativeCache remembers, for a short time, key hashes that authenticate
// nothing (unknown or revoked), so that a flood of bad keys does not become
// a flood of DynamoDB reads. It holds at most max entries: when full, expired
// entries are dropped, and if that is not enough, all of them.
type negativeCache struct {
	ttl time.Duration
	max int
	now func() time.Time
	mu  sync.Mutex
	m   map[string]time.Time // hash -> expiry
}

// has reports whether hash was refused less than ttl ago.
func (c *negativeCache) has(hash string) bool {
	if c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[hash]
	if ok && c.now().After(exp) {
		delete(c.m, hash)
		return false
	}
	return ok
}

// add records a refused hash.
func (c *negativeCache) add(hash string) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.m == nil {
		c.m = map[string]time.Time{}
	}
	if len(c.m) >= c.max {
		for k, exp := range c.m {
			if now.After(exp) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[hash] = now.Add(c.ttl)
}
