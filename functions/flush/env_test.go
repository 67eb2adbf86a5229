package flush

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/moto"
	"github.com/spillwayhq/spillway/local/mototest"
	"github.com/spillwayhq/spillway/shared/awsconf"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdimport"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

type testEnv struct {
	s3  *s3.Client
	ddb *dynamodb.Client
	cfg Config
}

func newTestEnv(tb testing.TB) *testEnv {
	tb.Helper()
	ctx := context.Background()
	n := envSeq.Add(1)
	srv := motoServer(tb)
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	e := &testEnv{
		s3:  s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), UsePathStyle: true, Credentials: creds}),
		ddb: dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), Credentials: creds}),
		cfg: DefaultConfig(),
	}
	e.cfg.Bucket, e.cfg.CatalogTable, e.cfg.ManifestTable = fmt.Sprintf("spw%d", n), fmt.Sprintf("catalog%d", n), fmt.Sprintf("manifests%d", n)
	e.cfg.SweepEvery = 0 // one pass per run; TestScheduledRunSweeps sets it
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(e.cfg.Bucket)}); err != nil {
		tb.Fatalf("create bucket: %v", err)
	}
	mototest.CreateTable(tb, ctx, e.ddb, e.cfg.CatalogTable, "db", "table")
	mototest.CreateTable(tb, ctx, e.ddb, e.cfg.ManifestTable, "pk", "sk")
	return e
}

// throughEdge sends e's DynamoDB calls through a local edge, built as main
// builds flush's client: the edge serialises moto's writes (moto's
// TransactWriteItems snapshots and restores whole tables, so concurrent
// transactions straight to moto are neither atomic nor isolated) and
// cancels conflicting transactions as DynamoDB does. Tests that race runs
// need it.
func (e *testEnv) throughEdge(tb testing.TB) *edge.Server {
	tb.Helper()
	ed, err := edge.Start(context.Background(), edge.Config{Addr: "127.0.0.1:0", Backend: motoServer(tb).URL()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ed.Close() })
	e.ddb = dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ed.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}, awsconf.DynamoDBRetryConflicts)
	return ed
}

func (e *testEnv) handler(tb testing.TB, now time.Time, sinks []Sink, opts ...Option) *Handler {
	tb.Helper()
	opts = append([]Option{WithClock(func() time.Time { return now }), WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))), WithMetrics(io.Discard)}, opts...)
	h, err := New(e.cfg, e.s3, e.ddb, sinks, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// stage writes a staged object and its item the way fanout does, and the
// catalog item of its table.
func (e *testEnv) stage(tb testing.TB, db, table string, hour int64, late bool, partID string, msgs ...string) {
	tb.Helper()
	var raw bytes.Buffer
	for i, m := range msgs {
		b, err := msgpack.Marshal(map[string]any{"time": hour + int64(i), "msg": m})
		if err != nil {
			tb.Fatal(err)
		}
		raw.Write(b)
	}
	e.stageRaw(tb, db, table, hour, late, partID, raw.Bytes(), len(msgs))
}

// stageRaw stages the msgpack records raw (events of them) as one object
// of hour, with its item, the way fanout does, and the table's catalog item.
func (e *testEnv) stageRaw(tb testing.TB, db, table string, hour int64, late bool, partID string, raw []byte, events int) {
	tb.Helper()
	ctx := context.Background()
	p := layout.PartitionOf(db, table, hour)
	key := layout.StagedKey(late, p, partID)
	if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(tdrecord.GzipStream(raw))}); err != nil {
		tb.Fatal(err)
	}
	_, err := e.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.cfg.ManifestTable), Item: map[string]types.AttributeValue{
		"pk": str(layout.StagedPK(db, table)), "sk": str(key), "events": num(int64(events)), "bytes": num(int64(len(raw))),
		"dt": str(p.DT()), "hour": str(p.HH()), "hour_unix": num(p.Hour),
		"late": &types.AttributeValueMemberBOOL{Value: late}, "part_id": str(partID),
	}})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.cfg.CatalogTable), Item: map[string]types.AttributeValue{
		"db": str(db), "table": str(table)}}); err != nil {
		tb.Fatal(err)
	}
}

func (e *testEnv) keys(tb testing.TB, prefix string) []string {
	tb.Helper()
	var out []string
	p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(e.cfg.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		pg, err := p.NextPage(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range pg.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	sort.Strings(out)
	return out
}

// sealedMsgs decodes every data/ object and returns the sorted messages.
func (e *testEnv) sealedMsgs(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for _, k := range e.keys(tb, "data/") {
		obj, err := e.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(e.cfg.Bucket), Key: aws.String(k)})
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		out = append(out, decodeMsgs(tb, body)...)
	}
	sort.Strings(out)
	return out
}

func decodeMsgs(tb testing.TB, gz []byte) []string {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		tb.Fatal(err)
	}
	dec := msgpack.NewDecoder(zr)
	var out []string
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return out
		} else if err != nil {
			tb.Fatal(err)
		}
		out = append(out, m["msg"].(string))
	}
}

// tdReceiver is a minimal TD import endpoint honouring unique_id.
type tdReceiver struct {
	mu       sync.Mutex
	srv      *httptest.Server
	bodies   map[string][]byte // db.table.unique_id -> body
	fail     []int             // statuses to answer before succeeding, consumed in order
	tables   map[string]bool   // known db.table when strict
	strict   bool              // 404 for unknown tables
	down     int               // while not 0, answer every import with this status
	requests int
	auth     map[string]bool // Authorization headers seen
}

func newTDReceiver(tb testing.TB) *tdReceiver {
	tb.Helper()
	r := &tdReceiver{bodies: map[string][]byte{}, tables: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.srv.Close)
	return r
}

func (r *tdReceiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.auth == nil {
		r.auth = map[string]bool{}
	}
	r.auth[req.Header.Get("Authorization")] = true
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 4 && parts[1] == "database" && parts[2] == "create":
		w.WriteHeader(200)
		return
	case len(parts) >= 5 && parts[1] == "table" && parts[2] == "create":
		r.tables[parts[3]+"."+parts[4]] = true
		w.WriteHeader(200)
		return
	case len(parts) == 7 && parts[2] == "import_with_id":
	default:
		http.Error(w, "no route "+req.URL.Path, 404)
		return
	}
	if r.down != 0 {
		http.Error(w, "endpoint down", r.down)
		return
	}
	if len(r.fail) > 0 {
		st := r.fail[0]
		r.fail = r.fail[1:]
		if st == 429 {
			w.Header().Set("Retry-After", "0")
		}
		http.Error(w, "injected", st)
		return
	}
	db, table, uid := parts[3], parts[4], parts[5]
	if r.strict && !r.tables[db+"."+table] {
		http.Error(w, `{"error":"table not found"}`, 404)
		return
	}
	body, _ := io.ReadAll(req.Body)
	k := db + "." + table + "." + uid
	if _, dup := r.bodies[k]; !dup {
		r.bodies[k] = body
	}
	fmt.Fprintf(w, `{"database":%q,"table":%q,"unique_id":%q,"md5_hex":"","elapsed_time":0}`, db, table, uid)
}

// setDown makes the endpoint answer every import with status (0: up).
func (r *tdReceiver) setDown(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = status
}

// msgs returns the sorted messages stored in the receiver.
func (r *tdReceiver) msgs(tb testing.TB) []string {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.bodies {
		out = append(out, decodeMsgs(tb, b)...)
	}
	sort.Strings(out)
	return out
}

func (r *tdReceiver) sink() Sink {
	return Sink{Endpoint: r.srv.URL, Client: &tdimport.Client{Endpoint: r.srv.URL, APIKey: "k",
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Policy: tdimport.RetryPolicy{MaxAttempts: 20, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}}}
}

// manifests returns the states of the live manifests of db_one.tbl_a.
func (e *testEnv) manifests(tb testing.TB) []string {
	tb.Helper()
	h := &Handler{cfg: e.cfg, ddb: e.ddb}
	ms, err := h.openManifests(context.Background(), "db_one", "tbl_a")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.State)
	}
	return out
}

// envSeq numbers the test envs: each uses its own bucket and tables on the
// test binary's one moto server (mototest.Shared, started by the first test
// that needs it; fuzzing and unit tests never start it).
var envSeq atomic.Int64

func motoServer(tb testing.TB) *moto.Server { return mototest.Shared(tb) }

func TestMain(m *testing.M) {
	code := m.Run()
	if err := mototest.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "close moto:", err)
	}
	os.Exit(code)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }
