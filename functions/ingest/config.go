package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// Auth modes (SPILLWAY_AUTH_MODE).
const (
	// AuthAPIKey checks "Authorization: TD1 <key>" against the apikeys table.
	AuthAPIKey = "apikey"
	// AuthIAM trusts API Gateway's IAM (SigV4) authorizer for who the caller
	// is; what it may do is its entry in Config.IAMScopes.
	AuthIAM = "iam"
)

// Config is the ingest handler's configuration. main fills it from the
// environment (shared/lambdaenv names) over DefaultConfig.
type Config struct {
	StreamName    string // Kinesis stream to write (SPILLWAY_STREAM_NAME)
	CatalogTable  string // DynamoDB catalog (SPILLWAY_CATALOG_TABLE)
	APIKeysTable  string // DynamoDB apikeys (SPILLWAY_APIKEYS_TABLE); required in apikey mode
	FlushFunction string // flush Lambda for POST /v1/flush (SPILLWAY_FLUSH_FUNCTION); empty disables the route (501)
	AutoCreate    bool   // create unknown databases and tables on first write (SPILLWAY_AUTO_CREATE)
	AuthMode      string // AuthAPIKey or AuthIAM (SPILLWAY_AUTH_MODE)
	// IAMScopes maps SigV4 principal ARNs (or AnyPrincipal) to what they may
	// do (SPILLWAY_IAM_SCOPES, JSON). Unlisted principals are refused.
	IAMScopes map[string]IAMScope

	Limits Limits

	// PutTimeout bounds the Kinesis write of one request when the context has
	// no deadline (tests, local runs without a deadline).
	PutTimeout time.Duration
	// DeadlineMargin is kept free before the invocation's deadline so that the
	// 429/503 answer still gets out.
	DeadlineMargin time.Duration
	// RetryAfter is the Retry-After sent with 429 and 503.
	RetryAfter time.Duration
	// CacheTTL is how long a positive API key lookup or catalog existence
	// check is reused by a warm function (0 disables the cache). A revoked
	// key may keep working for up to this long.
	CacheTTL time.Duration
	// NegativeCacheTTL is how long an unknown or revoked API key is answered
	// 401 without a DynamoDB read (0 disables). A key created meanwhile
	// works after at most this long.
	NegativeCacheTTL time.Duration
}

// Limits bound what one request may carry: the request body as received,
// then the record stream's limits (tdrecord.Limits, declared once there).
// Each violation has its own status and message (see README.md):
// MaxBodyBytes, MaxDecompressedBytes, MaxCompressionRatio, MaxRecordBytes
// and MaxEvents answer 413, MaxKeys and MaxDepth 422.
type Limits struct {
	MaxBodyBytes int // request body as received (after base64), 413
	tdrecord.Limits
}

// DefaultConfig returns the configuration with every default filled in and
// the AWS resource names empty.
func DefaultConfig() Config {
	return Config{
		AuthMode:       AuthAPIKey,
		Limits:         DefaultLimits(),
		PutTimeout:     20 * time.Second,
		DeadlineMargin: 1500 * time.Millisecond,
		RetryAfter:     time.Second,
		CacheTTL:       30 * time.Second,

		NegativeCacheTTL: 10 * time.Second,
	}
}

// DefaultLimits returns the default limits: API Gateway's own payload limit
// for the body and tdrecord.DefaultLimits for the record stream.
func DefaultLimits() Limits {
	return Limits{
		MaxBodyBytes: 10 << 20, // API Gateway's own payload limit
		Limits:       tdrecord.DefaultLimits(),
	}
}

// Validate reports every problem of c at once, each prefixed with its field
// path.
func (c Config) Validate() error {
	var errs []error
	req := func(field, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s: required", field))
		}
	}
	req("StreamName", c.StreamName)
	req("CatalogTable", c.CatalogTable)
	switch c.AuthMode {
	case AuthAPIKey:
		req("APIKeysTable", c.APIKeysTable)
	case AuthIAM:
	default:
		errs = append(errs, fmt.Errorf("AuthMode: %q is not %q or %q", c.AuthMode, AuthAPIKey, AuthIAM))
	}
	pos := func(field string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %d", "Limits."+field, v))
		}
	}
	l := c.Limits
	pos("MaxBodyBytes", l.MaxBodyBytes)
	pos("MaxDecompressedBytes", l.MaxDecompressedBytes)
	pos("MaxCompressionRatio", l.MaxCompressionRatio)
	pos("MaxRecordBytes", l.MaxRecordBytes)
	pos("MaxKeys", l.MaxKeys)
	pos("MaxDepth", l.MaxDepth)
	pos("MaxEvents", l.MaxEvents)
	if l.RatioFloorBytes < 0 {
		errs = append(errs, fmt.Errorf("Limits.RatioFloorBytes: must not be negative, got %d", l.RatioFloorBytes))
	}
	// Fanout stores streams within tdrecord's ceilings: whatever ingest
	// accepts must stay within them.
	if l.MaxKeys > tdrecord.MaxKeysCeiling {
		errs = append(errs, fmt.Errorf("Limits.MaxKeys: %d is over what fanout stores (%d)", l.MaxKeys, tdrecord.MaxKeysCeiling))
	}
	if l.MaxDepth > tdrecord.MaxDepthCeiling {
		errs = append(errs, fmt.Errorf("Limits.MaxDepth: %d is over what fanout stores (%d)", l.MaxDepth, tdrecord.MaxDepthCeiling))
	}
	if l.MaxRecordBytes > maxRecordPayload {
		errs = append(errs, fmt.Errorf("Limits.MaxRecordBytes: %d does not fit one Kinesis record (max %d)", l.MaxRecordBytes, maxRecordPayload))
	}
	if c.PutTimeout <= 0 {
		errs = append(errs, fmt.Errorf("PutTimeout: must be positive, got %s", c.PutTimeout))
	}
	if c.DeadlineMargin < 0 {
		errs = append(errs, fmt.Errorf("DeadlineMargin: must not be negative, got %s", c.DeadlineMargin))
	}
	if c.RetryAfter < time.Second {
		errs = append(errs, fmt.Errorf("RetryAfter: must be at least 1s, got %s", c.RetryAfter))
	}
	if err := validateIAMScopes(c.IAMScopes); err != nil {
		errs = append(errs, err)
	}
	if c.NegativeCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("NegativeCacheTTL: must not be negative, got %s", c.NegativeCacheTTL))
	}
	if c.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("CacheTTL: must not be negative, got %s", c.CacheTTL))
	}
	return errors.Join(errs...)
}
