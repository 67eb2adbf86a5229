package lake

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/spillwayhq/spillway/shared/fault"
)

// Config configures a Lake. Defaults come from DefaultConfig.
type Config struct {
	// Warehouse is the S3 URL the tables live under, s3://bucket[/prefix];
	// table db.t is at <Warehouse>/<db>/<t>. Required unless ReadOnly.
	Warehouse string
	// ReadOnly builds a Lake that only reads (Load, Current): tables carry
	// their own locations, so no Warehouse is needed.
	ReadOnly bool
	// S3Endpoint, when set, is the S3 endpoint of the Iceberg file IO, with
	// path-style addressing (emulators). Empty on AWS.
	S3Endpoint string
	// Region is the region of the file IO's S3 client; default: the
	// aws.Config's.
	Region string
	// MaxAttempts bounds the load-check-commit attempts of one call under
	// commit conflicts; default 20.
	MaxAttempts int
	// TargetFileBytes is write.target-file-size-bytes of new tables and the
	// default target of Compact; default 128 MiB.
	TargetFileBytes int64
	// CompactMaxRows bounds the input rows of one compaction rewrite (one
	// commit); Compact splits an hour's small files into groups under it,
	// so its memory follows the group, not the hour. Measured
	// (BENCHMARKS.md, "Lake maintenance"): a 100k-row rewrite peaks at
	// ~38 MiB of Go heap, 300k rows at ~76 MiB, ~0.2 KiB more per row; so
	// the default, 200,000 rows, is ~60 MiB, far inside flush's default
	// 1,024 MB, leaving room for the rest of the run and for wider rows
	// than the benchmark's.
	CompactMaxRows int64
	// Fault is called at FaultDataWritten and FaultCommitted; default
	// fault.None.
	Fault fault.Func
	// Logger receives JSON logs; default discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults (Warehouse is left empty).
func DefaultConfig() Config {
	return Config{MaxAttempts: 20, TargetFileBytes: 128 << 20, CompactMaxRows: 200_000, Fault: fault.None, Logger: slog.New(slog.DiscardHandler)}
}

func (c *Config) applyDefaults() {
	d := DefaultConfig()
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.TargetFileBytes == 0 {
		c.TargetFileBytes = d.TargetFileBytes
	}
	if c.CompactMaxRows == 0 {
		c.CompactMaxRows = d.CompactMaxRows
	}
	if c.Fault == nil {
		c.Fault = d.Fault
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.Warehouse); (!c.ReadOnly || c.Warehouse != "") && (err != nil || u.Scheme != "s3" || u.Host == "") {
		errs = append(errs, fmt.Errorf("lake.Config.Warehouse: %q is not s3://bucket[/prefix]", c.Warehouse))
	}
	if c.S3Endpoint != "" {
		if u, err := url.Parse(c.S3Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("lake.Config.S3Endpoint: %q is not an http(s) URL", c.S3Endpoint))
		}
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, errors.New("lake.Config.MaxAttempts: negative"))
	}
	if c.TargetFileBytes < 0 {
		errs = append(errs, errors.New("lake.Config.TargetFileBytes: negative"))
	}
	if c.CompactMaxRows < 0 {
		errs = append(errs, errors.New("lake.Config.CompactMaxRows: negative"))
	}
	return errors.Join(errs...)
}

// tableLocation is the table's root location.
func (c Config) tableLocation(db, table string) string {
	return strings.TrimRight(c.Warehouse, "/") + "/" + db + "/" + table
}
