package flush

import (
	"errors"
	"fmt"
	"time"
)

// Config is the typed configuration of the flush handler.
type Config struct {
	Bucket          string        // S3 bucket (staged/, late/, data/, failed/)
	CatalogTable    string        // DynamoDB catalog: lists the tables to flush
	ManifestTable   string        // DynamoDB manifests table (staged items, manifests, sealed markers)
	SealTargetBytes int64         // uncompressed bytes per sealed object; also the size that makes a table due early
	LateWindow      time.Duration // an hour is due once it ended this long ago
	MaxClaim        int           // staged objects per manifest (bounded by the 400 KB item limit)
}

// DefaultConfig returns the defaults: 64 MiB sealed objects, a 10-minute
// late window, 500 staged objects per manifest.
func DefaultConfig() Config {
	return Config{SealTargetBytes: 64 << 20, LateWindow: 10 * time.Minute, MaxClaim: 500}
}

// Validate reports every configuration problem at once.
func (c Config) Validate() error {
	var errs []error
	for _, f := range [][2]string{{"bucket", c.Bucket}, {"catalog_table", c.CatalogTable}, {"manifest_table", c.ManifestTable}} {
		if f[1] == "" {
			errs = append(errs, fmt.Errorf("%s: required", f[0]))
		}
	}
	if c.SealTargetBytes <= 0 {
		errs = append(errs, errors.New("seal_target_bytes: must be positive"))
	}
	if c.LateWindow < 0 {
		errs = append(errs, errors.New("late_window: must not be negative"))
	}
	if c.MaxClaim < 1 || c.MaxClaim > 1000 {
		errs = append(errs, errors.New("max_claim: must be 1 to 1000"))
	}
	return errors.Join(errs...)
}
