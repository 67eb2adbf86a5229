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
	ThroughAPI      int    `json:"through_api"`  // through the HTTP API front
	Why             string `json:"why"`          // what the HTTP API's 4xx must mention
	ThroughREST     int    `json:"through_rest"` // through the REST API front
}

// TestShippersThroughLocalFront sends every shipper's request fixture (the
// bytes Fluent Bit, Fluentd, Vector and curl put on the wire, built from
// their documented formats in shared/tdrecord) through both local API
// Gateway fronts to the real bootstrap binary on moto: through the REST API
// (binaryMediaTypes */*) every fixture is 2xx, compressed JSON included;
// through the HTTP API each answer is the fixture's through_api status (a
// compressed body under a text Content-Type arrives mangled: 415 naming the
// REST API URL). The stream holds exactly the events of the accepted
// requests. It also runs the README's recipes' URL shape (tag in the path,
// time_key in the query).
func TestShippersThroughLocalFront(t *testing.T) {
	m := startMoto(t)
	f := startFront(t, m, apikeys.NewSpec{Name: "shippers", Databases: []string{"shippers_db"}, CanRead: true, CanWrite: true})
	key, logs := f.key, f.logs
	fronts := []struct {
		name string
		base string
		want func(shipperFixture) (int, string)
	}{
		{name: "http_api", base: "http://127.0.0.1:" + strconv.Itoa(f.port), want: func(fx shipperFixture) (int, string) { return fx.ThroughAPI, fx.Why }},
		{name: "rest_api", base: "http://127.0.0.1:" + strconv.Itoa(f.restPort) + "/" + restStage, want: func(fx shipperFixture) (int, string) { return fx.ThroughREST, "" }},
	}

	dir := filepath.Join("..", "..", "shared", "tdrecord", "testdata", "shippers")
	metas, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(metas) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	want, compressedText := 0, 0
	for _, path := range metas {
		var fx shipperFixture
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &fx); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if fx.ThroughREST != http.StatusOK {
			t.Fatalf("%s: through_rest %d: every shipper must work through the REST API", fx.Name, fx.ThroughREST)
		}
		if fx.ThroughAPI == http.StatusUnsupportedMediaType {
			compressedText++
		}
		body, err := os.ReadFile(strings.TrimSuffix(path, ".json") + ".body")
		if err != nil {
			t.Fatal(err)
		}
		for _, fr := range fronts {
			t.Run(fr.name+"/"+fx.Name, func(t *testing.T) {
				status, why := fr.want(fx)
				url := fr.base + "/td.shippers_db.events"
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
				if resp.StatusCode != status || (why != "" && !strings.Contains(string(answer), why)) {
					t.Fatalf("%s: %d %s, want %d mentioning %q\nfunction logs:\n%s", fx.Shipper, resp.StatusCode, answer, status, why, logs.String())
				}
				t.Logf("%s (%s, %s): %d %s", fx.Shipper, fx.ContentType, fx.ContentEncoding, resp.StatusCode, answer)
				if resp.StatusCode == http.StatusOK {
					want += fx.Events
				}
			})
		}
	}
	if compressedText == 0 {
		t.Fatal("no fixture sends a compressed body under a text Content-Type")
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
