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
// tdlog-style import reach every sink, exactly once, with no POST
// /v1/flush. With the deployed seal_after (30 s), fanout asks for a flush
// once the table's oldest unsealed commit is 30 s old, so a trickle of
// in_http posts keeps the table busy meanwhile, as live traffic does; the
// schedule runs too (every minute), so the test also checks the flush log
// for a run fanout started that sealed events. It logs the time from the
// last ack to all sinks holding the events (bench/e2e measures the
// distribution).
func freshWithoutFlushRequest(t *testing.T, c *cloud.Cloud) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const db, table = "fresh", "events"
	post := func(msg string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.APIURL+"/td."+db+"."+table, strings.NewReader(`{"msg":"`+msg+`","time":`+fmt.Sprint(time.Now().Unix())+`}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "TD1 "+c.APIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("in_http post: %s", resp.Status)
		}
		return nil
	}
	var want []string
	for i := range 5 {
		msg := fmt.Sprintf("in_http-%d", i)
		if err := post(msg); err != nil {
			t.Fatal(err)
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
	trickle, stopTrickle := context.WithCancel(ctx)
	defer stopTrickle()
	go func() {
		for i := 0; trickle.Err() == nil; i++ {
			_ = post(fmt.Sprintf("tick-%d", i))
			select {
			case <-trickle.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}()
	ours := func(recs []map[string]any) []string {
		var out []string
		for _, r := range recs {
			if m := fmt.Sprint(r["msg"]); !strings.HasPrefix(m, "tick-") {
				out = append(out, m)
			}
		}
		slices.Sort(out)
		return out
	}
	var got, td []string
	if err := cloud.WaitFor(ctx, 250*time.Millisecond, "every sink holds the events", func(ctx context.Context) (bool, error) {
		count, err := c.CatalogCount(ctx, db, table)
		if err != nil {
			return false, err
		}
		s, err := c.SealedObjects(ctx, db, table)
		if err != nil {
			return false, err
		}
		got, td = ours(records(s.Records)), ours(records(c.TD.Records(db, table)))
		return count >= n && int64(len(got)) >= n && int64(len(td)) >= n, nil
	}); err != nil {
		t.Fatal(err)
	}
	stopTrickle()
	t.Logf("all sinks hold the %d events %s after the last ack", n, time.Since(acked).Round(100*time.Millisecond))
	if !slices.Equal(got, want) || !slices.Equal(td, want) {
		t.Errorf("S3 holds %v, TD %v; want %v, once each", got, td, want)
	}
	// The run logs "flush done" after its imports, so poll for it.
	var logs []byte
	err := cloud.WaitFor(ctx, 250*time.Millisecond, "a flush run started by fanout", func(context.Context) (bool, error) {
		var err error
		if logs, err = os.ReadFile(filepath.Join(c.DataDir, "logs", "flush.log")); err != nil {
			return false, err
		}
		for _, line := range strings.Split(string(logs), "\n") {
			if strings.Contains(line, `"msg":"flush done"`) && strings.Contains(line, `"source":"spillway.fanout"`) && !strings.Contains(line, `"events":0,`) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("%v; flush log:\n%s", err, logs)
	}
}

// records converts the receiver's or the sealed objects' records.
func records[R ~map[string]any](in []R) []map[string]any {
	out := make([]map[string]any, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}
