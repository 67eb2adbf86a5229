package cloud

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/forwarder/parser"
	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/shared/catalog"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdimport"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// CatalogEntry is one table's catalog entry: its item and its counter
// items folded (shared/catalog).
type CatalogEntry struct {
	DB           string
	Table        string
	Count        int64
	Bytes        int64
	MinTime      int64
	MaxTime      int64
	LastImportAt int64
	LateCount    int64
	FutureCount  int64
}

// Catalog scans the catalog table and returns its tables (database items
// aside), counter items folded in, sorted by db and table.
func (c *Cloud) Catalog(ctx context.Context) ([]CatalogEntry, error) {
	dc := dynamodb.NewFromConfig(c.AWS)
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(dc, &dynamodb.ScanInput{TableName: aws.String(c.Outputs.CatalogTable), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan catalog %s: %w", c.Outputs.CatalogTable, err)
		}
		items = append(items, page.Items...)
	}
	var out []CatalogEntry
	for _, e := range catalog.Fold(items) {
		if e.Table == "" {
			continue
		}
		out = append(out, CatalogEntry{DB: e.DB, Table: e.Table, Count: e.Count, Bytes: e.Bytes, MinTime: e.MinTime, MaxTime: e.MaxTime,
			LastImportAt: e.LastImportAt, LateCount: e.LateCount, FutureCount: e.FutureCount})
	}
	return out, nil
}

// CatalogCount is the catalog's count for db.table (0 when absent).
func (c *Cloud) CatalogCount(ctx context.Context, db, table string) (int64, error) {
	entries, err := c.Catalog(ctx)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if e.DB == db && e.Table == table {
			return e.Count, nil
		}
	}
	return 0, nil
}

// Sealed is what the sealed S3 objects of one table hold.
type Sealed struct {
	Keys    []string
	Records []tdtest.Record
}

// Hashes returns the sorted record hashes (tdtest.HashRecord).
func (s Sealed) Hashes() []string {
	out := make([]string, len(s.Records))
	for i, r := range s.Records {
		out[i] = tdtest.HashRecord(r)
	}
	sort.Strings(out)
	return out
}

// SealedObjects reads every sealed object (data/db=<db>/table=<table>/...)
// through the S3 API and decodes its records.
func (c *Cloud) SealedObjects(ctx context.Context, db, table string) (Sealed, error) {
	sc := s3.NewFromConfig(c.AWS, func(o *s3.Options) { o.UsePathStyle = true; o.DisableLogOutputChecksumValidationSkipped = true })
	prefix := layout.TablePrefix(layout.PrefixSealed, db, table)
	var out Sealed
	p := s3.NewListObjectsV2Paginator(sc, &s3.ListObjectsV2Input{Bucket: aws.String(c.Outputs.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			out.Keys = append(out.Keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(out.Keys)
	for _, k := range out.Keys {
		obj, err := sc.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.Outputs.Bucket), Key: aws.String(k)})
		if err != nil {
			return out, fmt.Errorf("get %s: %w", k, err)
		}
		recs, err := tdtest.DecodeStream(obj.Body, tdtest.DefaultLimits())
		_ = obj.Body.Close()
		if err != nil {
			return out, fmt.Errorf("decode %s: %w", k, err)
		}
		out.Records = append(out.Records, recs...)
	}
	return out, nil
}

// Flush asks ingest for an on-demand flush (POST /v1/flush on the API
// front) and returns once it was accepted.
func (c *Cloud) Flush(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.APIURL+"/v1/flush", nil)
	if err != nil {
		return fmt.Errorf("flush request: %w", err)
	}
	req.Header.Set("Authorization", "TD1 "+c.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("flush: %s answered %d: %s", c.APIURL, resp.StatusCode, b)
	}
	return nil
}

// WaitFor polls cond every interval until it reports true, returns an
// error, or ctx ends.
func WaitFor(ctx context.Context, interval time.Duration, what string, cond func(context.Context) (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// ParseApacheFile parses an Apache combined log with the forwarder's
// apache2 parser (times in UTC) and returns the records as msgpack streams
// of up to perChunk records each, and the record count. A line that does not
// match becomes {"unmatched_line": line, "time": now}, as Fluentd's in_tail
// does with emit_unmatched_lines (the 10k corpus has one truncated line).
func ParseApacheFile(path string, perChunk int) ([][]byte, int, error) {
	if perChunk <= 0 {
		perChunk = 1000
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open corpus: %w", err)
	}
	defer f.Close()
	p, err := parser.New(parser.Config{Type: parser.TypeApache2, Timezone: "UTC"})
	if err != nil {
		return nil, 0, fmt.Errorf("apache2 parser: %w", err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var chunks [][]byte
	var cur []byte
	n, in := 0, 0
	now := time.Now()
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		out, err := p.AppendRecord(cur, line, now)
		if err != nil {
			if !errors.Is(err, parser.ErrNoMatch) {
				return nil, n, fmt.Errorf("parse record %d: %w", n+1, err)
			}
			out = parser.AppendUnparsed(cur, line, now)
		}
		cur = out
		n++
		in++
		if in == perChunk {
			chunks = append(chunks, cur)
			cur, in = nil, 0
		}
	}
	if err := sc.Err(); err != nil {
		return nil, n, fmt.Errorf("read corpus: %w", err)
	}
	if in > 0 {
		chunks = append(chunks, cur)
	}
	return chunks, n, nil
}

// ImportFile sends an Apache combined log (see ParseApacheFile) to the API
// front with ImportChunks, perRequest records per request. It returns the
// number of records sent. It stands in for the forwarder binary.
func (c *Cloud) ImportFile(ctx context.Context, path, db, table string, perRequest int) (int, error) {
	chunks, n, err := ParseApacheFile(path, perRequest)
	if err != nil {
		return 0, err
	}
	if err := c.ImportChunks(ctx, chunks, db, table); err != nil {
		return 0, err
	}
	return n, nil
}

// ImportChunks sends each msgpack stream as one TD import_with_id request to
// the API front (gzip body, unique id derived from the content, so a re-run
// is deduplicated).
func (c *Cloud) ImportChunks(ctx context.Context, chunks [][]byte, db, table string) error {
	client := &tdimport.Client{Endpoint: c.APIURL, APIKey: c.APIKey, Logger: slog.New(slog.DiscardHandler)}
	for i, raw := range chunks {
		gz := tdrecord.GzipStream(raw)
		sum := sha256.Sum256(raw)
		uid := hex.EncodeToString(sum[:16])
		if _, err := client.ImportWithID(ctx, db, table, uid, gz); err != nil {
			return fmt.Errorf("import chunk %d (%s): %w", i, uid, err)
		}
	}
	return nil
}
