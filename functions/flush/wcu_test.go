package flush

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// backfillObjects is how many staged objects TestWriteUnitsPerObject
// stages, each in its own hour, as a backfill stages a part (the demo
// corpus spreads one part over 85 hours).
const backfillObjects = 40

// maxWriteUnitsPerObject bounds the DynamoDB write units a forced flush
// may spend per staged object of a backfill into one TD endpoint: claiming
// and deleting its staged item (1 unit each) plus its share of the
// manifest's writes, each about 1 unit however many objects the manifest
// holds. Before issue 16's fix the manifest item held every entry and
// sealed key, and every state change and per-object import mark rewrote
// it: about 10 units per object at this size, 25 at the demo's 85.
const maxWriteUnitsPerObject = 3

// TestWriteUnitsPerObject counts, at the edge (which bills write units
// as DynamoDB does: the larger item size before or after the write, in
// 1 KB units, doubled in a transaction), the write units of a forced
// flush of backfillObjects staged objects in distinct hours into one TD
// endpoint, and checks every event reached S3 and the endpoint.
func TestWriteUnitsPerObject(t *testing.T) {
	e := newTestEnv(t)
	ed := e.throughEdge(t)
	ed.SetMetering(true)
	td := newTDReceiver(t)
	var want []string
	for i := range backfillObjects {
		hour := hourT - 3600*int64(1+i)
		msgs := []string{fmt.Sprintf("h%02d-a", i), fmt.Sprintf("h%02d-b", i)}
		e.stage(t, "db_one", "tbl_a", hour, false, fmt.Sprintf("p%d", i), msgs...)
		want = append(want, msgs...)
	}
	slices.Sort(want)
	ed.ResetCalls()
	res, err := e.handler(t, time.Unix(hourT, 0), []Sink{td.sink()}).Handle(context.Background(), forced)
	if err != nil {
		t.Fatal(err)
	}
	if res.SealedObjects != backfillObjects {
		t.Fatalf("sealed objects = %d, want %d", res.SealedObjects, backfillObjects)
	}
	var wru float64
	for _, c := range ed.Calls() {
		if c.Service == "dynamodb" && c.DynamoDBWriteUnits > 0 {
			t.Logf("%s: %d calls, %.0f WRU", c.Operation, c.Requests, c.DynamoDBWriteUnits)
			wru += c.DynamoDBWriteUnits
		}
	}
	t.Logf("%.0f WRU for %d staged objects: %.2f per object", wru, backfillObjects, wru/backfillObjects)
	if per := wru / backfillObjects; per > maxWriteUnitsPerObject {
		t.Errorf("%.2f write units per staged object, want at most %d", per, maxWriteUnitsPerObject)
	}
	if got := e.sealedMsgs(t); !slices.Equal(got, want) {
		t.Errorf("sealed = %v, want %v", got, want)
	}
	if got := td.msgs(t); !slices.Equal(got, want) {
		t.Errorf("td = %v, want %v", got, want)
	}
}
