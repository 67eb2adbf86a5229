package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/shared/layout"
)

func demo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf cloudFlags
	cf.register(fs)
	corpus := fs.String("corpus", "", "Apache combined log to replay (default: local/testdata/apache_combined_10k.log)")
	db := fs.String("db", "www", "database")
	table := fs.String("table", "access", "table")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
	sender := fs.String("sender", "forwarder", "what sends the corpus: forwarder (the spillway-forwarder binary tailing it) or client (a TD import client)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts, err := cf.options()
	if err != nil {
		return err
	}
	if *sender != "forwarder" && *sender != "client" {
		return fmt.Errorf("-sender: %q is neither forwarder nor client", *sender)
	}
	root, err := cloud.RepoRoot(".")
	if err != nil {
		return err
	}
	if *corpus == "" {
		*corpus = filepath.Join(root, "local", "testdata", "apache_combined_10k.log")
	}
	_, want, err := cloud.ParseApacheFile(*corpus, 1000)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	t0 := time.Now()
	fmt.Fprintln(stdout, "==> starting the local cloud (moto, edge, build, terraform apply, runners) ...")
	c, err := cloud.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(stdout, "    up in %s\n", time.Since(t0).Round(time.Second))
	printEndpoints(stdout, c)

	sent := want
	var fwd *cloud.Forwarder
	switch *sender {
	case "forwarder":
		fmt.Fprintf(stdout, "\n==> sending %s: spillway-forwarder tails it (apache2 parser, tag td.%s.%s) and ships to the API front ...\n", filepath.Base(*corpus), *db, *table)
		fwd, err = c.StartForwarder(ctx, root, *corpus, "apache2", "td."+*db+"."+*table)
		if err != nil {
			return err
		}
	default:
		fmt.Fprintf(stdout, "\n==> sending %s as td.%s.%s to the API front (apache2 parser, TD import_with_id) ...\n", filepath.Base(*corpus), *db, *table)
		if sent, err = c.ImportFile(ctx, *corpus, *db, *table, 1000); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "    %d records sent\n", sent)
	}

	fmt.Fprintln(stdout, "==> waiting for fanout to count them in the catalog ...")
	if err := cloud.WaitFor(ctx, 500*time.Millisecond, "catalog count", func(ctx context.Context) (bool, error) {
		n, err := c.CatalogCount(ctx, *db, *table)
		return n >= int64(sent), err
	}); err != nil {
		return err
	}
	if fwd != nil {
		if err := fwd.Stop(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "    %d records counted; forwarder stopped (its log: %s)\n", sent, fwd.LogPath)
	}
	fmt.Fprintln(stdout, "==> flushing on demand (POST /v1/flush) and waiting for sealed objects and the TD receiver ...")
	if err := c.Flush(ctx); err != nil {
		return err
	}
	var sealed cloud.Sealed
	if err := cloud.WaitFor(ctx, time.Second, "sealed objects", func(ctx context.Context) (bool, error) {
		s, err := c.SealedObjects(ctx, *db, *table)
		sealed = s
		return len(s.Records) >= sent, err
	}); err != nil {
		return err
	}
	if err := c.TD.WaitCount(ctx, *db, *table, sent); err != nil {
		return err
	}
	var lakeRecs []tdtest.Record
	if c.LakeOn() {
		fmt.Fprintf(stdout, "==> waiting for the lake (Iceberg table %s.%s in the Glue catalog) ...\n", *db, *table)
		if err := cloud.WaitFor(ctx, time.Second, "lake rows", func(ctx context.Context) (bool, error) {
			r, err := c.LakeRecords(ctx, *db, *table)
			lakeRecs = r
			return len(r) >= sent, err
		}); err != nil {
			return err
		}
	}

	entries, err := c.Catalog(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\n$ td tables   (from the DynamoDB catalog)")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "Database\tTable\tType\tCount\tMin time (UTC)\tMax time (UTC)\tBytes\t")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\tlog\t%d\t%s\t%s\t%d\t\n", e.DB, e.Table, e.Count, unix(e.MinTime), unix(e.MaxTime), e.Bytes)
	}
	_ = tw.Flush()

	fmt.Fprintln(stdout, "\nwhere the data landed:")
	fmt.Fprintf(stdout, "  S3 s3://%s/%s: %d sealed objects, %d records\n", c.Outputs.Bucket, layout.TablePrefix(layout.PrefixSealed, *db, *table), len(sealed.Keys), len(sealed.Records))
	for i, k := range sealed.Keys {
		if i == 5 {
			fmt.Fprintf(stdout, "    ... %d more\n", len(sealed.Keys)-5)
			break
		}
		fmt.Fprintf(stdout, "    %s\n", k)
	}
	fmt.Fprintf(stdout, "  TD receiver %s: %d records in %s.%s\n", c.TDURL, c.TD.Count(*db, *table), *db, *table)
	same := equal(sealed.Hashes(), c.TD.Hashes(*db, *table))
	fmt.Fprintf(stdout, "  S3 and TD hold the same records: %v\n", same)
	lakeSame := true
	if c.LakeOn() {
		fmt.Fprintf(stdout, "  Iceberg lake %s/%s/%s (Glue table %s.%s, Athena workgroup %q): %d rows\n",
			c.Outputs.LakeWarehouse, *db, *table, *db, *table, c.Outputs.AthenaWorkgroup, len(lakeRecs))
		lakeSame = equal(cloud.LakeHashes(lakeRecs), sealed.LakeComparable())
		fmt.Fprintf(stdout, "  the lake holds the same records as S3 and TD: %v\n", lakeSame)
		for _, q := range []string{
			fmt.Sprintf("SELECT code, count(*) AS requests FROM %s.%s GROUP BY code ORDER BY requests DESC, code", *db, *table),
			fmt.Sprintf("SELECT path, count(*) AS requests FROM %s.%s GROUP BY path ORDER BY requests DESC, path LIMIT 10", *db, *table),
		} {
			fmt.Fprintf(stdout, "\n$ spillway query %q\n", q)
			out, err := c.Query(ctx, root, q)
			if err != nil {
				return err
			}
			fmt.Fprint(stdout, out)
		}
	}
	fmt.Fprintf(stdout, "\ndone in %s; stopping everything ...\n", time.Since(t0).Round(time.Second))
	if err := c.Close(); err != nil {
		return err
	}
	if !same {
		return fmt.Errorf("S3 sealed records and TD receiver records differ")
	}
	if !lakeSame {
		return fmt.Errorf("the lake's records differ from the S3 sealed records")
	}
	return nil
}

func unix(s int64) string {
	if s == 0 {
		return "-"
	}
	return time.Unix(s, 0).UTC().Format("2006-01-02 15:04:05")
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
