package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	td "github.com/treasure-data/td-client-go"

	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/local/localtest"
)

// TestEndToEnd runs ingest inside the whole local cloud (Terraform-deployed
// functions, API front, edge, ESM, fanout): td-client-go v0.3.2 imports and
// lists unchanged, and a throttled import answered 429 and retried with the
// same unique_id lands exactly once downstream.
func TestEndToEnd(t *testing.T) {
	c := localtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	u, err := url.Parse(c.APIURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	client, err := td.NewTDClient(td.Settings{ApiKey: c.APIKey, Router: &td.FixedEndpointRouter{Endpoint: u.Hostname()}, Port: port, Transport: httpScheme{}})
	if err != nil {
		t.Fatal(err)
	}
	const db = "e2e_ingest"
	waitCount := func(t *testing.T, table string, want int64) {
		t.Helper()
		err := cloud.WaitFor(ctx, 250*time.Millisecond, "catalog count of "+table, func(ctx context.Context) (bool, error) {
			n, err := c.CatalogCount(ctx, db, table)
			return n >= want, err
		})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c.CatalogCount(ctx, db, table); err != nil || n != want {
			t.Fatalf("catalog count %d (%v), want exactly %d", n, err, want)
		}
	}

	t.Run("td-client-go import and list tables", func(t *testing.T) {
		body, n := corpusBody(t)
		if _, err := client.Import(db, "apache", "msgpack.gz", td.InMemoryBlob(body), "e2ecorpus0001"); err != nil {
			t.Fatalf("Import: %v", err)
		}
		waitCount(t, "apache", int64(n))
		tables, err := client.ListTables(db)
		if err != nil {
			t.Fatalf("ListTables: %v", err)
		}
		if len(*tables) != 1 || (*tables)[0].Name != "apache" || (*tables)[0].Count != n {
			t.Fatalf("tables %+v", *tables)
		}
	})

	t.Run("Fluent Bit json+gzip: REST API URL stored, HTTP API 415", func(t *testing.T) {
		body, err := os.ReadFile("../../shared/tdrecord/testdata/shippers/fluentbit_json_gzip.body")
		if err != nil {
			t.Fatal(err)
		}
		if c.RESTURL == "" {
			t.Fatal("the local cloud serves no REST API front (Terraform output rest_api_id)")
		}
		post := func(base string) (int, string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/td."+db+".shipped?time_key=date", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Content-Encoding", "gzip")
			req.Header.Set("Authorization", "TD1 "+c.APIKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if st, msg := post(c.APIURL); st != http.StatusUnsupportedMediaType || !strings.Contains(msg, "REST API URL") {
			t.Fatalf("HTTP API: %d %s, want 415 naming the REST API URL", st, msg)
		}
		if st, msg := post(c.RESTURL); st != http.StatusOK {
			t.Fatalf("REST API: %d %s", st, msg)
		}
		waitCount(t, "shipped", 3)
	})

	t.Run("throttled, answered 429, retried: exactly one copy", func(t *testing.T) {
		body, n := corpusBodyN(t, 5) // > 1 MiB gzipped: several parts
		// Every PutRecords call loses some records: some parts get in, the
		// request cannot complete and must be answered 429.
		if err := c.Edge.SetFaults(edge.FaultConfig{Seed: 7, Rules: []edge.FaultRule{{Service: "kinesis", Operation: "PutRecords", Rate: 1, PartialFailure: 0.5}}}); err != nil {
			t.Fatal(err)
		}
		_, err := client.Import(db, "throttled", "msgpack.gz", td.InMemoryBlob(body), "e2ethrottle01")
		var apiErr *td.APIError
		if !errors.As(err, &apiErr) || !strings.HasPrefix(apiErr.Message, "429:") {
			t.Fatalf("want a 429 from the throttled import, got %v", err)
		}
		if err := c.Edge.SetFaults(edge.FaultConfig{}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Import(db, "throttled", "msgpack.gz", td.InMemoryBlob(body), "e2ethrottle01"); err != nil {
			t.Fatalf("retry: %v", err)
		}
		waitCount(t, "throttled", int64(n))
	})
}
