//go:build !cgo

package main

import (
	"context"
	"errors"
	"io"
)

// runQuery reports that this build has no DuckDB: spillway query links
// DuckDB through cgo, and the static release builds (make cli) have none.
func runQuery(context.Context, []string, io.Writer, io.Writer) error {
	return usageErr(errors.New("query: this spillway was built without cgo, so without DuckDB; build it with CGO_ENABLED=1 go build ./cmd/spillway"))
}
