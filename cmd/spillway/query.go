//go:build cgo

package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver

	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/lake"
)

// tableRef finds <db>.<table> names in SQL (TD's naming rules).
var tableRef = regexp.MustCompile(`\b([a-z0-9_]{3,255})\.([a-z0-9_]{3,255})\b`)

const queryUsage = `usage: spillway query [-format table|csv|json] "SQL"`

// runQuery runs `spillway query`. stderr receives the flag package's
// messages.
func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, queryUsage); fs.PrintDefaults() }
	format := fs.String("format", "table", "output format: table, csv or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr(err)
	}
	if fs.NArg() != 1 {
		return usageErr(errors.New(queryUsage))
	}
	w, ok := writers[*format]
	if !ok {
		return usageErr(fmt.Errorf("query: unknown -format %q (table, csv or json)", *format))
	}
	if err := query(ctx, fs.Arg(0), w, stdout); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return nil
}

// query downloads the data files of every lake table the SQL names into a
// temporary directory, exposes each as the DuckDB view <db>.<table> over
// read_parquet, runs sql and writes the result with w.
func query(ctx context.Context, sqlText string, w resultWriter, out io.Writer) error {
	awsCfg, err := awsconf.Load(ctx)
	if err != nil {
		return err
	}
	s3Endpoint := os.Getenv("AWS_ENDPOINT_URL_S3")
	if s3Endpoint == "" {
		s3Endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	lk, err := lake.New(awsCfg, lake.Config{ReadOnly: true, S3Endpoint: s3Endpoint,
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	s3c := s3.NewFromConfig(awsCfg, awsconf.S3PathStyle)
	dir, err := os.MkdirTemp("", "spillway-query-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	db, err := sql.Open("duckdb", "")
	if err != nil {
		return fmt.Errorf("open duckdb: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // one connection: views live in its in-memory database
	if err != nil {
		return fmt.Errorf("duckdb connection: %w", err)
	}
	defer conn.Close()

	seen := map[string]bool{}
	for _, m := range tableRef.FindAllStringSubmatch(sqlText, -1) {
		name := m[1] + "." + m[2]
		if seen[name] {
			continue
		}
		seen[name] = true
		snap, err := lk.Current(ctx, m[1], m[2])
		if errors.Is(err, catalog.ErrNoSuchTable) || errors.Is(err, catalog.ErrNoSuchNamespace) {
			continue // not a lake table: a column reference or a DuckDB name
		}
		if err != nil {
			return err
		}
		local, err := download(ctx, s3c, snap.Files, filepath.Join(dir, m[1], m[2]))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := createView(ctx, conn, m[1], m[2], snap.Schema, local); err != nil {
			return err
		}
	}
	rows, err := conn.QueryContext(ctx, sqlText)
	if err != nil {
		return fmt.Errorf("run query: %w", err)
	}
	defer rows.Close()
	return w(out, rows)
}

// createView defines db.tbl over the local Parquet files, or as an empty
// table of the schema's columns when the table has no data yet.
func createView(ctx context.Context, conn *sql.Conn, db, tbl string, sc *iceberg.Schema, files []string) error {
	stmts := []string{"CREATE SCHEMA IF NOT EXISTS " + quoteIdent(db)}
	target := quoteIdent(db) + "." + quoteIdent(tbl)
	if len(files) == 0 {
		var cols []string
		for _, f := range sc.Fields() {
			cols = append(cols, quoteIdent(f.Name)+" "+duckType(f.Type))
		}
		stmts = append(stmts, "CREATE TABLE "+target+" ("+strings.Join(cols, ", ")+")")
	} else {
		quoted := make([]string, len(files))
		for i, f := range files {
			quoted[i] = "'" + strings.ReplaceAll(f, "'", "''") + "'"
		}
		// union_by_name: files written before a column was added lack it.
		stmts = append(stmts, "CREATE VIEW "+target+" AS SELECT * FROM read_parquet(["+strings.Join(quoted, ", ")+"], union_by_name = true)")
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("define %s.%s: %w", db, tbl, err)
		}
	}
	return nil
}

// duckType is the DuckDB type of an Iceberg column type this lake writes.
func duckType(t iceberg.Type) string {
	switch t.(type) {
	case iceberg.TimestampTzType:
		return "TIMESTAMPTZ"
	case iceberg.Int64Type:
		return "BIGINT"
	case iceberg.Int32Type:
		return "INTEGER"
	case iceberg.Float64Type:
		return "DOUBLE"
	case iceberg.BooleanType:
		return "BOOLEAN"
	case iceberg.BinaryType:
		return "BLOB"
	}
	return "VARCHAR"
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
