package lake

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/glue"
	icebergio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // registers the s3:// file IO
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spillwayhq/spillway/shared/names"
)

// Fault points, passed to Config.Fault.
const (
	// FaultDataWritten is reached after an append's or a compaction's data
	// files are in S3 and before its commit.
	FaultDataWritten = "lake-data-written"
	// FaultCommitted is reached after the commit succeeded.
	FaultCommitted = "lake-committed"
)

// Catalog is the part of an Iceberg catalog a Lake needs; *glue.Catalog is
// one. Tables loaded from it commit through it.
type Catalog interface {
	LoadTable(ctx context.Context, id table.Identifier) (*table.Table, error)
	CreateTable(ctx context.Context, id table.Identifier, sc *iceberg.Schema, opts ...catalog.CreateTableOpt) (*table.Table, error)
	CreateNamespace(ctx context.Context, ns table.Identifier, props iceberg.Properties) error
}

var _ Catalog = (*glue.Catalog)(nil)

// Lake writes Spillway's Iceberg tables. It is safe for concurrent use.
type Lake struct {
	cfg    Config
	cat    Catalog
	log    *slog.Logger
	awsCfg *aws.Config // for the S3 file IO; nil with NewWithCatalog
}

// New builds a Lake on the Glue catalog of awsCfg (its region, credentials
// and endpoint), with S3 file IO for cfg.Warehouse.
func New(awsCfg aws.Config, cfg Config) (*Lake, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lake config: %w", err)
	}
	props := glue.AwsProperties{"warehouse": cfg.Warehouse}
	region := cfg.Region
	if region == "" {
		region = awsCfg.Region
	}
	if region != "" {
		props[icebergio.S3Region] = region
	}
	if cfg.S3Endpoint != "" {
		props[icebergio.S3EndpointURL] = cfg.S3Endpoint // also selects path style
	}
	cat, err := glue.NewCatalog(glue.WithAwsConfig(awsCfg), glue.WithAwsProperties(props))
	if err != nil {
		return nil, fmt.Errorf("glue catalog: %w", err)
	}
	l, err := NewWithCatalog(cat, cfg)
	if err != nil {
		return nil, err
	}
	l.awsCfg = &awsCfg
	return l, nil
}

// withAWS returns ctx carrying the Lake's aws.Config, which iceberg-go's
// S3 file IO takes its credentials from (without it, the IO loads the
// default chain on its own, down to EC2 instance metadata).
func (l *Lake) withAWS(ctx context.Context) context.Context {
	if l.awsCfg == nil {
		return ctx
	}
	return utils.WithAwsConfig(ctx, l.awsCfg)
}

// NewWithCatalog builds a Lake on cat.
func NewWithCatalog(cat Catalog, cfg Config) (*Lake, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lake config: %w", err)
	}
	return &Lake{cfg: cfg, cat: cat, log: cfg.Logger}, nil
}

// identifier validates db and tbl (TD's naming rules) and returns the
// table's Iceberg identifier.
func identifier(db, tbl string) (table.Identifier, error) {
	if err := names.Validate("database", db); err != nil {
		return nil, err
	}
	if err := names.Validate("table", tbl); err != nil {
		return nil, err
	}
	return table.Identifier{db, tbl}, nil
}

// Load returns the current state of table db.tbl (catalog.ErrNoSuchTable
// when it does not exist).
func (l *Lake) Load(ctx context.Context, db, tbl string) (*table.Table, error) {
	id, err := identifier(db, tbl)
	if err != nil {
		return nil, err
	}
	t, err := l.cat.LoadTable(l.withAWS(ctx), id)
	if err != nil {
		return nil, fmt.Errorf("load table %s.%s: %w", db, tbl, err)
	}
	return t, nil
}
