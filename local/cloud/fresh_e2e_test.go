package cloud_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/shared/tdimport"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// freshWithoutFlushRequest (a subtest of TestPipelineEndToEnd, run before
// anything asks for a flush): events sent by in_http posts and a
// tdlog-style import reach every sink with no POST /v1/flush: fanout asks
// for the flush. The schedule runs too (every minute, as deployed), so the
// test also checks the flush log for a run that fanout started and that
// sealed events. It logs the time from the last ack to all sinks holding
// every event (bench/e2e measures the distribution).
func freshWithoutFlushRequest(t *testing.T, c *cloud.Cloud) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const db, table = "fresh", "events"
	var want []string
	for i := range 5 {
		msg := fmt.Sprintf("in_http-%d", i)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.APIURL+"/td."+db+"."+table, strings.NewReader(`{"msg":"`+msg+`","time":`+fmt.Sprint(time.Now().Unix())+`}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "TD1 "+c.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("in_http post: %s", resp.Status)
		}
		want = append(want, msg)
	}
	var raw bytes.Buffer
	for i := range 5 {
		msg := fmt.Sprintf("import-%d", i)
		b, err := msgpack.Marshal(map[string]any{"msg": msg, "time": time.Now().Unix()})
		if err != nil {
			t.Fatal(err)
		}
		raw.Write(b)
		want = append(want, msg)
	}
	client := &tdimport.Client{Endpoint: c.APIURL, APIKey: c.APIKey, Logger: slog.New(slog.DiscardHandler)}
	if _, err := client.ImportWithID(ctx, db, table, "fresh-import-1", tdrecord.GzipStream(raw.Bytes())); err != nil {
		t.Fatalf("import: %v", err)
	}
	acked := time.Now()
	slices.Sort(want)
	n := int64(len(want))
	if err := cloud.WaitFor(ctx, 250*time.Millisecond, "every sink holds the events", func(ctx context.Context) (bool, error) {
		count, err := c.CatalogCount(ctx, db, table)
		if err != nil {
			return false, err
		}
		s, err := c.SealedObjects(ctx, db, table)
		if err != nil {
			return false, err
		}
		return count >= n && int64(len(s.Records)) >= n && int64(c.TD.Count(db, table)) >= n, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("all sinks hold the %d events %s after the last ack", n, time.Since(acked).Round(100*time.Millisecond))
	s, err := c.SealedObjects(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	var got, td []string
	for _, r := range s.Records {
		got = append(got, fmt.Sprint(r["msg"]))
	}
	for _, r := range c.TD.Records(db, table) {
		td = append(td, fmt.Sprint(r["msg"]))
	}
	slices.Sort(got)
	slices.Sort(td)
	if !slices.Equal(got, want) || !slices.Equal(td, want) {
		t.Errorf("S3 holds %v, TD %v; want %v", got, td, want)
	}
	if count, _ := c.CatalogCount(ctx, db, table); count != n {
		t.Errorf("catalog count %d, want %d", count, n)
	}
	logs, err := os.ReadFile(filepath.Join(c.DataDir, "logs", "flush.log"))
	if err != nil {
		t.Fatal(err)
	}
	fanoutRun := false
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(line, `"msg":"flush done"`) && strings.Contains(line, `"source":"spillway.fanout"`) && !strings.Contains(line, `"events":0`) {
			fanoutRun = true
		}
	}
	if !fanoutRun {
		t.Errorf("no flush run started by fanout sealed events; flush log:\n%s", logs)
	}
}
