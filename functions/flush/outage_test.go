package flush

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestTDOutageOutlastsRetries: the endpoint fails longer than the client's
// retries, so the first flush returns an error with its manifest sealed but
// not done; the next flush resumes it and every record lands once.
func TestTDOutageOutlastsRetries(t *testing.T) {
	e := newTestEnv(t)
	td := newTDReceiver(t)
	for range 25 { // MaxAttempts is 20 in tdReceiver.sink
		td.fail = append(td.fail, 503)
	}
	ctx := context.Background()
	e.stage(t, "db_one", "tbl_a", hourT-7200, false, "p1", "a1", "a2")
	e.stage(t, "db_one", "tbl_a", hourT-3600, false, "p2", "b1")
	now := time.Unix(hourT, 0)
	if _, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced); err == nil {
		t.Fatal("first flush succeeded through a 25-answer outage")
	}
	if got := e.keys(t, "staged/"); len(got) != 2 {
		t.Fatalf("staged objects deleted before the sink committed: %v", got)
	}
	res, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, forced)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 1 || res.Manifests != 0 {
		t.Errorf("result = %+v, want the manifest resumed, none created", res)
	}
	want := []string{"a1", "a2", "b1"}
	if got := td.msgs(t); !slices.Equal(got, want) {
		t.Errorf("td = %v", got)
	}
	if got := e.sealedMsgs(t); !slices.Equal(got, want) {
		t.Errorf("sealed = %v", got)
	}
}
