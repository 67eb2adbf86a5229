package replay

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/shared/layout"
)

// failedDoc parks a sealed object as flush does when an endpoint refuses
// it, and returns the failed/ key.
func (e *testEnv) failedDoc(tb testing.TB, endpoint, table, uid, object string) string {
	tb.Helper()
	doc, err := json.Marshal(flush.FailedRecord{Endpoint: endpoint, DB: "web", Table: table, UniqueID: uid, Object: object, StatusCode: 422, Response: "invalid"})
	if err != nil {
		tb.Fatal(err)
	}
	key := layout.FailedKey(endpoint, "web", table, uid)
	e.putObject(tb, key, doc)
	return key
}

// TestReplayFailed: a parked import is imported into its endpoint with the
// same unique_id and its failed/ document deleted; the endpoint stores it
// once however often it is replayed; imports refused again, and endpoints
// the secret has no key for, stay parked; a dry run and a second replay
// change nothing.
func TestReplayFailed(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	ts := now.Unix()
	p := layout.PartitionOf("web", "access", ts)
	object := layout.SealedKey(p, "0123456789abcdef0123456789abcdef", 0)
	e.putObject(t, object, gzipEvents(t, "s", ts, ts, ts, ts))
	kOK := e.failedDoc(t, e.td.URL(), "access", "m1-0", object)
	kBad := e.failedDoc(t, e.td.URL(), "access", "bad-1", object) // refused again (422)
	kNoKey := e.failedDoc(t, "http://127.0.0.1:1", "access", "m2-0", object)

	before := e.state(t)
	res, out := e.replay(t, SourceFailed, now, func(c *Config) { c.DryRun = true })
	if res != (Result{Source: SourceFailed, Found: 3, Replayed: 2, Left: 1}) || !strings.Contains(out, "would import "+object) ||
		!strings.Contains(out, "left "+kNoKey) {
		t.Fatalf("dry run = %+v\n%s", res, out)
	}
	if after := e.state(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("dry run changed state:\n%+v\n%+v", before, after)
	}

	res, out = e.replay(t, SourceFailed, now, nil)
	if res != (Result{Source: SourceFailed, Found: 3, Replayed: 1, Left: 2}) || !strings.Contains(out, "left "+kBad) ||
		!strings.Contains(out, "refused again") {
		t.Fatalf("replay = %+v\n%s", res, out)
	}
	if n := e.td.Count("web", "access"); n != 4 {
		t.Fatalf("endpoint holds %d records, want 4", n)
	}
	left := e.objects(t, layout.PrefixFailed)
	if _, ok := left[kOK]; ok || len(left) != 2 {
		t.Fatalf("failed/ after replay = %v", left)
	}
	if len(e.objects(t, object)) != 1 {
		t.Fatal("the sealed object must stay")
	}

	before = e.state(t)
	if res, _ := e.replay(t, SourceFailed, now, nil); res != (Result{Source: SourceFailed, Found: 2, Left: 2}) {
		t.Fatalf("second replay = %+v", res)
	}
	if after := e.state(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("second replay changed state:\n%+v\n%+v", before, after)
	}

	// Interrupted after the import, before the delete: the document is back.
	e.failedDoc(t, e.td.URL(), "access", "m1-0", object)
	if res, _ := e.replay(t, SourceFailed, now, nil); res.Replayed != 1 {
		t.Fatalf("replay after interruption = %+v", res)
	}
	if n, d := e.td.Count("web", "access"), e.td.Stats().Duplicates; n != 4 || d != 1 {
		t.Fatalf("after a repeated replay the endpoint holds %d records (%d duplicates refused), want 4 (1)", n, d)
	}
}
