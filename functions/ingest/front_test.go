package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/klauspost/compress/gzip"
	td "github.com/treasure-data/td-client-go"

	"github.com/spillwayhq/spillway/functions/ingest/apikeys"
	"github.com/spillwayhq/spillway/internal/testcodec"
	"github.com/spillwayhq/spillway/local/apigw"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/lambdarun"
	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
	"github.com/spillwayhq/spillway/shared/tdimport"
)

// buildBootstrap compiles cmd/bootstrap as Lambda does (-tags lambda.norpc).
func buildBootstrap(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./cmd/bootstrap")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, b)
	}
	return out
}

// httpScheme sends td-client-go's https URLs to the plain-HTTP local front.
type httpScheme struct{}

func (httpScheme) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme = "http"
	return http.DefaultTransport.RoundTrip(r)
}

// corpusBody parses the apache corpus with the forwarder's apache2 parser
// (cloud.ParseApacheFile) and returns it as one import body and its event
// count.
func corpusBody(t testing.TB) ([]byte, int) {
	t.Helper()
	return corpusBodyN(t, 1)
}

// corpusBodyN is corpusBody with the corpus repeated times times.
func corpusBodyN(t testing.TB, times int) ([]byte, int) {
	t.Helper()
	raw, n := corpusStream(t)
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	_, _ = zw.Write(bytes.Repeat(raw, times))
	_ = zw.Close()
	return body.Bytes(), n * times
}

// corpusStream is the parsed corpus as one msgpack stream and its event
// count.
func corpusStream(t testing.TB) ([]byte, int) {
	t.Helper()
	chunks, n, err := cloud.ParseApacheFile("testdata/apache_combined_10k.log", 1<<30)
	if err != nil || len(chunks) != 1 {
		t.Fatalf("parse corpus: %d chunks, %v", len(chunks), err)
	}
	return chunks[0], n
}

// zstdFrames is raw as concatenated zstd frames of at most frame bytes
// each, as the forwarder sends a chunk (one frame per append).
func zstdFrames(t testing.TB, raw []byte, frame int) []byte {
	return testcodec.Zstd(t, raw, frame)
}

// payloadOf decompresses an envelope's payload as its Encoding says, with
// decoders of its own (not the handler's).
func payloadOf(t testing.TB, e *envelope.Envelope) []byte {
	t.Helper()
	return testcodec.Decompress(t, e.Encoding, e.Payload)
}

// payloads returns, per unique_id, the events of the envelopes in recs:
// their payloads decompressed and concatenated in part order.
func payloads(t testing.TB, recs []types.Record) map[string][]byte {
	t.Helper()
	parts := map[string][][]byte{}
	for _, r := range recs {
		e, err := envelope.Unmarshal(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		raw := payloadOf(t, e)
		if parts[e.UniqueID] == nil {
			parts[e.UniqueID] = make([][]byte, e.Parts)
		}
		parts[e.UniqueID][e.Part] = raw
	}
	out := map[string][]byte{}
	for id, ps := range parts {
		out[id] = bytes.Join(ps, nil)
	}
	return out
}

// firstDiff returns the first offset at which a and b differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// describeParts lists each stream record's unique_id, part/parts, events
// and shard/sequence, to tell a lost, doubled or misplaced part apart.
func describeParts(t testing.TB, recs []types.Record) string {
	t.Helper()
	var sb strings.Builder
	for _, r := range recs {
		e, err := envelope.Unmarshal(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "\n  %s part %d/%d: %d events, seq %s", e.UniqueID, e.Part, e.Parts, e.Events, aws.ToString(r.SequenceNumber))
	}
	return sb.String()
}

// front is the real ingest bootstrap under the local Lambda runner behind
// the local API Gateway front, with moto as DynamoDB and Kinesis.
type front struct {
	key      string // an API key with the spec given to startFront
	port     int    // the HTTP API front's port on 127.0.0.1
	restPort int    // the REST API front's port (stage restStage, binaryMediaTypes */*)
	runner   *lambdarun.Runner
	logs     *bytes.Buffer // the function's log
}

// restStage is the REST API front's stage, the first segment of its paths.
const restStage = "ingest"

// startFront builds the bootstrap and serves it behind two local fronts
// until the test ends: an HTTP API (payload 2.0) and a REST API (payload
// 1.0, binaryMediaTypes */*) with the Terraform module's resources.
func startFront(t testing.TB, m *motoEnv, spec apikeys.NewSpec) front {
	t.Helper()
	bin := buildBootstrap(t)
	key, _, err := (&apikeys.Store{DB: m.ddb, Table: "apikeys"}).Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	runner, err := lambdarun.New(lambdarun.Config{
		Name: "spillway-ingest", Binary: bin, Timeout: 30 * time.Second, MemoryMB: 512,
		Env: map[string]string{
			"AWS_ENDPOINT_URL": m.url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
			lambdaenv.StreamName: "ingest-test", lambdaenv.CatalogTable: "catalog", lambdaenv.APIKeysTable: "apikeys",
			lambdaenv.AutoCreate: "true", lambdaenv.LogLevel: "info",
		},
		Logs: logs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runner.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	port := serveFront(t, apigw.Config{Routes: []apigw.Route{{Key: "$default"}}, Invoke: runner.Invoke, Logger: quiet})
	restPort := serveFront(t, apigw.Config{Kind: apigw.KindREST, Stage: restStage, BinaryMediaTypes: []string{"*/*"},
		Routes: []apigw.Route{{Key: "ANY /{proxy+}"}, {Key: "ANY /"}}, Invoke: runner.Invoke, Logger: quiet})
	return front{key: key, port: port, restPort: restPort, runner: runner, logs: logs}
}

// serveFront serves a local API Gateway front on a loopback port until the
// test ends and returns the port.
func serveFront(t testing.TB, cfg apigw.Config) int {
	t.Helper()
	gw, err := apigw.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// TestThroughLocalFront runs the real bootstrap binary under the local
// Lambda runner behind the local API Gateway front, with moto as DynamoDB
// and Kinesis, and drives it with td-client-go v0.3.2 (Import, ListTables)
// and a curl-style in_http post.
func TestThroughLocalFront(t *testing.T) {
	m := startMoto(t)
	ctx := context.Background()
	f := startFront(t, m, apikeys.NewSpec{Name: "e2e", Databases: []string{"corpus_db"}, CanRead: true, CanWrite: true})
	key, port, runner, logs := f.key, f.port, f.runner, f.logs

	client, err := td.NewTDClient(td.Settings{ApiKey: key, Router: &td.FixedEndpointRouter{Endpoint: "127.0.0.1"}, Port: port, Transport: httpScheme{}})
	if err != nil {
		t.Fatal(err)
	}
	// Parse the corpus once: its unmatched line is stamped with the parse
	// time, so a second parse can differ from the first.
	raw, n := corpusStream(t)
	body := testcodec.Gzip(t, raw)
	start := time.Now()
	if _, err := client.Import("corpus_db", "apache", "msgpack.gz", td.InMemoryBlob(body), "corpus0001"); err != nil {
		t.Fatalf("td-client-go Import: %v\nfunction logs:\n%s", err, logs.String())
	}
	t.Logf("import of %d events (%d bytes gzipped) took %s; cold start %s", n, len(body), time.Since(start), runner.Stats().LastColdStart)
	// The same corpus as the forwarder sends it with compression auto:
	// msgpack.zst, one frame per 64 KiB, through tdimport over the same front.
	zbody := zstdFrames(t, raw, 64<<10)
	zc := &tdimport.Client{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), APIKey: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policy: tdimport.RetryPolicy{MaxAttempts: 1}}
	if _, err := zc.ImportWithIDFormat(ctx, "corpus_db", "apache", "corpus0002", tdimport.FormatZstd, zbody); err != nil {
		t.Fatalf("zstd import: %v\nfunction logs:\n%s", err, logs.String())
	}
	_, err = zc.ImportWithIDFormat(ctx, "corpus_db", "apache", "corpus0003", "msgpack.br", zbody)
	if se := (*tdimport.StatusError)(nil); !errors.As(err, &se) || se.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(se.Body, "msgpack.zst") {
		t.Fatalf("unknown format: %v, want 415 naming msgpack.zst", err)
	}
	tables, err := client.ListTables("corpus_db")
	if err != nil {
		t.Fatalf("td-client-go ListTables: %v", err)
	}
	if len(*tables) != 1 || (*tables)[0].Name != "apache" {
		t.Fatalf("tables %+v", *tables)
	}
	// Fluentd in_http through the same front.
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(port)+"/td.corpus_db.apache", strings.NewReader(`json={"action":"login","user":2}`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "TD1 "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("in_http: %d", resp.StatusCode)
	}
	// Everything is in the stream: the corpus twice (gzip, zstd), the post.
	recs := m.readStream(t)
	events := 0
	for _, r := range recs {
		e, err := envelope.Unmarshal(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		events += e.Events
	}
	if events != 2*n+1 {
		t.Fatalf("%d events in the stream, want %d", events, 2*n+1)
	}
	got := payloads(t, recs)
	for _, id := range []string{"corpus0001", "corpus0002"} {
		if !bytes.Equal(got[id], raw) {
			t.Errorf("stored stream of %s: %d bytes, first difference at offset %d; want the corpus (%d bytes); records: %s",
				id, len(got[id]), firstDiff(got[id], raw), len(raw), describeParts(t, recs))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if st := runner.Stats(); st.ColdStarts != 1 || st.Errors != 0 {
		t.Fatalf("runner stats %+v", st)
	}
}
