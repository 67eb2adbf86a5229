package ingest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/functions/ingest/apikeys"
	"github.com/spillwayhq/spillway/shared/envelope"
)

// shipperFixture is shared/tdrecord/testdata/shippers/<name>.json.
type shipperFixture struct {
	Name            string `json:"name"`
	Shipper         string `json:"shipper"`
	ContentType     string `json:"content_type"`
	ContentEncoding string `json:"content_encoding"`
	Query           string `json:"query"`
	Events          int    `json:"events"`
	ThroughAPI      int    `json:"through_api"`
	Why             string `json:"why"`
}

// TestShippersThroughLocalFront sends every shipper's request fixture (the
// bytes Fluent Bit, Fluentd, Vector and curl put on the wire, built from
// their documented formats in shared/tdrecord) through the local API
// Gateway front to the real bootstrap binary on moto: each answer is the
// fixture's through_api status (a 4xx says what to change), and the stream
// holds exactly the events of the accepted requests. It also runs the
// README's recipes' URL shape (tag in the path, time_key in the query).
func TestShippersThroughLocalFront(t *testing.T) {
	m := startMoto(t)
	f := startFront(t, m, apikeys.NewSpec{Name: "shippers", Databases: []string{"shippers_db"}, CanRead: true, CanWrite: true})
	key, logs := f.key, f.logs
	base := "http://127.0.0.1:" + strconv.Itoa(f.port)

	dir := filepath.Join("..", "..", "shared", "tdrecord", "testdata", "shippers")
	metas, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(metas) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	want := 0
	for _, path := range metas {
		var fx shipperFixture
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &fx); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, err := os.ReadFile(strings.TrimSuffix(path, ".json") + ".body")
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fx.Name, func(t *testing.T) {
			url := base + "/td.shippers_db.events"
			if fx.Query != "" {
				url += "?" + fx.Query
			}
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", fx.ContentType)
			if fx.ContentEncoding != "" {
				req.Header.Set("Content-Encoding", fx.ContentEncoding)
			}
			req.Header.Set("Authorization", "TD1 "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != fx.ThroughAPI || (fx.Why != "" && !strings.Contains(string(answer), fx.Why)) {
				t.Fatalf("%s: %d %s, want %d mentioning %q\nfunction logs:\n%s", fx.Shipper, resp.StatusCode, answer, fx.ThroughAPI, fx.Why, logs.String())
			}
			t.Logf("%s (%s, %s): %d %s", fx.Shipper, fx.ContentType, fx.ContentEncoding, resp.StatusCode, answer)
			if resp.StatusCode == http.StatusOK {
				want += fx.Events
			}
		})
	}
	events := 0
	for _, r := range m.readStream(t) {
		e, err := envelope.Unmarshal(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		events += e.Events
	}
	if events != want {
		t.Fatalf("%d events in the stream, want %d", events, want)
	}
}
