package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/apache/iceberg-go/catalog"

	"github.com/spillwayhq/spillway/internal/laketest"
	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/shared/lake"
)

// LakeOn reports whether the deployment has the Iceberg lake on (Terraform
// output lake_warehouse).
func (c *Cloud) LakeOn() bool { return c.Outputs.LakeWarehouse != "" }

// LakeRecords reads the lake table db.table back with an iceberg-go scan
// of its current snapshot (internal/laketest: td_time as "time", null
// columns left out); none when the table does not exist yet.
func (c *Cloud) LakeRecords(ctx context.Context, db, table string) ([]tdtest.Record, error) {
	lk, err := lake.New(c.AWS, lake.Config{ReadOnly: true, S3Endpoint: c.EdgeURL})
	if err != nil {
		return nil, err
	}
	recs, err := laketest.Records(ctx, c.AWS, lk, db, table)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, nil
	}
	out := make([]tdtest.Record, len(recs))
	for i, r := range recs {
		out[i] = r
	}
	return out, err
}

// LakeHashes returns the sorted hashes (tdtest.HashRecord) of records read
// with LakeRecords.
func LakeHashes(recs []tdtest.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = tdtest.HashRecord(r)
	}
	sort.Strings(out)
	return out
}

// LakeComparable returns the sorted hashes of s's records as the lake holds
// them: a nil value is a null column, as a missing key is.
func (s Sealed) LakeComparable() []string {
	out := make([]string, len(s.Records))
	for i, r := range s.Records {
		out[i] = tdtest.HashRecord(laketest.DropNulls(r))
	}
	sort.Strings(out)
	return out
}

// Query runs `spillway query -format table sqlText` against the cloud and
// returns what it printed. The operations CLI is built from root with cgo
// (DuckDB) into the build directory, where go build leaves an up-to-date
// binary alone: the first build links DuckDB (minutes on a loaded
// machine), later ones take seconds.
func (c *Cloud) Query(ctx context.Context, root, sqlText string) (string, error) {
	bin := filepath.Join(c.buildDir, "native", "spillway")
	logw, err := c.logFile("cli-build.log")
	if err != nil {
		return "", err
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-o", bin, "./cmd/spillway"}
	if err := runGoBuild(ctx, root, "./cmd/spillway", "native, cgo", args, []string{"CGO_ENABLED=1"}, logw); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, "query", "-format", "table", sqlText)
	cmd.Env = append(os.Environ(), c.Env()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("spillway query: %w\n%s", err, stderr.String())
	}
	return stdout.String(), nil
}
