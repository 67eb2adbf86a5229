package lake_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/mototest"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/lake"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := mototest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "stop moto:", err)
	}
	os.Exit(code)
}

// rig is a lake over its own bucket, behind a local edge (which enforces
// Glue's VersionId) in front of the test binary's moto.
type rig struct {
	awsCfg    aws.Config
	edgeURL   string
	warehouse string
}

var bucketSeq atomic.Int64

func newRig(t testing.TB) *rig {
	t.Helper()
	moto := mototest.Shared(t)
	e, err := edge.Start(context.Background(), edge.Config{Addr: "127.0.0.1:0", Backend: moto.URL()})
	if err != nil {
		t.Fatalf("start edge: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	cfg, err := awsconf.Load(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(e.URL()))
	if err != nil {
		t.Fatal(err)
	}
	bucket := "lake-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.FormatInt(bucketSeq.Add(1), 10)
	sc := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := sc.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return &rig{awsCfg: cfg, edgeURL: e.URL(), warehouse: "s3://" + bucket + "/lake"}
}

// ctx carries the rig's aws.Config for iceberg-go's S3 file IO, as the
// Lake does for its own calls.
func (r *rig) ctx() context.Context { return utils.WithAwsConfig(context.Background(), &r.awsCfg) }

// lake builds a Lake on the rig; each call is a fresh process's view.
func (r *rig) lake(t testing.TB, mod func(*lake.Config)) *lake.Lake {
	t.Helper()
	cfg := lake.DefaultConfig()
	cfg.Warehouse = r.warehouse
	cfg.S3Endpoint = r.edgeURL
	if mod != nil {
		mod(&cfg)
	}
	lk, err := lake.New(r.awsCfg, cfg)
	if err != nil {
		t.Fatalf("new lake: %v", err)
	}
	return lk
}

// uniqueDB returns a database name unique to this test binary run.
var dbSeq atomic.Int64

func uniqueDB() string {
	return "db" + strconv.FormatInt(dbSeq.Add(1), 10) + "_" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
}

// stream encodes records (each with an int64 "time") as a TD record stream.
func stream(t testing.TB, records []map[string]any) []byte {
	t.Helper()
	var out []byte
	for _, r := range records {
		var err error
		tm := r["time"].(int64)
		if out, err = tdrecord.AppendRecord(out, r, tm); err != nil {
			t.Fatalf("encode: %v", err)
		}
	}
	return out
}

// rows reads the table's current snapshot (or snapshot id when non-zero)
// with an iceberg-go scan and returns each row as canonical JSON of its
// non-null columns, sorted. The timestamptz "time" is checked against
// td_time and left out.
func (r *rig) rows(t testing.TB, db, tbl string, snapshot int64) []string {
	t.Helper()
	ctx := r.ctx()
	tb, err := r.lake(t, nil).Load(ctx, db, tbl)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	var opts []table.ScanOption
	if snapshot != 0 {
		opts = append(opts, table.WithSnapshotID(snapshot))
	}
	at, err := tb.Scan(opts...).ToArrowTable(ctx)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	defer at.Release()
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	var out []string
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{}
			var ts *arrow.Timestamp
			for c, f := range rec.Schema().Fields() {
				col := rec.Column(c)
				if col.IsNull(i) {
					continue
				}
				switch a := col.(type) {
				case *array.Timestamp:
					v := a.Value(i)
					ts = &v
				case *array.Int64:
					row[f.Name] = a.Value(i)
				case *array.Float64:
					row[f.Name] = a.Value(i)
				case *array.Boolean:
					row[f.Name] = a.Value(i)
				case *array.String:
					row[f.Name] = a.Value(i)
				case *array.LargeString:
					row[f.Name] = a.Value(i)
				case *array.Binary:
					row[f.Name] = "b64:" + base64.StdEncoding.EncodeToString(a.Value(i))
				case *array.LargeBinary:
					row[f.Name] = "b64:" + base64.StdEncoding.EncodeToString(a.Value(i))
				default:
					t.Fatalf("column %s: unexpected arrow type %s", f.Name, f.Type)
				}
			}
			if ts == nil || int64(*ts) != row[lake.TDTimeColumn].(int64)*1_000_000 {
				t.Fatalf("row %v: time %v does not match td_time", row, ts)
			}
			b, _ := json.Marshal(row)
			out = append(out, string(b))
		}
	}
	if err := tr.Err(); err != nil {
		t.Fatalf("read: %v", err)
	}
	slices.Sort(out)
	return out
}

// canon renders expected rows (column -> int64, float64, bool, string, or
// "b64:..." for binary) as rows does.
func canon(expected []map[string]any) []string {
	out := make([]string, len(expected))
	for i, r := range expected {
		b, _ := json.Marshal(r)
		out[i] = string(b)
	}
	slices.Sort(out)
	return out
}

func diffRows(t testing.TB, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Fatalf("rows differ: got %d, want %d\ngot:\n%s\nwant:\n%s", len(got), len(want), clip(got), clip(want))
}

func clip(s []string) string {
	if len(s) > 10 {
		return strings.Join(s[:10], "\n") + fmt.Sprintf("\n... (%d more)", len(s)-10)
	}
	return strings.Join(s, "\n")
}

// crashAt is a fault hook that fails once at point, like a process dying
// there, after passing it skip times; later calls pass.
type crashAt struct {
	point  string
	skip   int64
	passed atomic.Int64
	fired  atomic.Bool
}

var errCrash = fmt.Errorf("simulated crash")

func (c *crashAt) fault(_ context.Context, p string) error {
	if p == c.point && c.passed.Add(1) > c.skip && c.fired.CompareAndSwap(false, true) {
		return fmt.Errorf("%s: %w", p, errCrash)
	}
	return nil
}

// hourBase is a fixed hour for test data: 2026-12-01T10:00:00Z.
var hourBase = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Unix()

// gen makes n records and their expected rows: every column type, spread
// over hours hours starting at hourBase, seq numbering them from start.
func gen(start, n, hours int) (records, expected []map[string]any) {
	for i := start; i < start+n; i++ {
		tm := hourBase + int64(i%hours)*3600 + int64(i%3600)
		r := map[string]any{
			"time":   tm,
			"seq":    int64(i),
			"status": int64(200 + i%5*100),
			"path":   "/p/" + strconv.Itoa(i%17),
			"ratio":  float64(i) / 8,
			"ok":     i%2 == 0,
			"raw":    []byte{0xff, byte(i)},
			"nested": map[string]any{"k": int64(i), "a": []any{"x", int64(1)}},
		}
		e := map[string]any{
			lake.TDTimeColumn: tm,
			"seq":             int64(i),
			"status":          int64(200 + i%5*100),
			"path":            "/p/" + strconv.Itoa(i%17),
			"ratio":           float64(i) / 8,
			"ok":              i%2 == 0,
			"raw":             "b64:" + base64.StdEncoding.EncodeToString([]byte{0xff, byte(i)}),
			"nested":          fmt.Sprintf(`{"a":["x",1],"k":%d}`, i),
		}
		records, expected = append(records, r), append(expected, e)
	}
	return records, expected
}
