package flush

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestTDOutageOutlastsRetries: the endpoint fails longer than the client's
// retries. S3 does not wait for it: the first flush seals and deletes the
// staged objects, and its manifest stays stored with a retry time. Runs
// before that time leave the backlog alone; a run after it imports every
// record once, from the sealed objects, even 8 days later (past any
// lifecycle the staged prefix ever had: nothing the backlog needs expires).
func TestTDOutageOutlastsRetries(t *testing.T) {
	e := newTestEnv(t)
	td := newTDReceiver(t)
	td.setDown(503)
	ctx := context.Background()
	e.stage(t, "db_one", "tbl_a", hourT-7200, false, "p1", "a1", "a2")
	e.stage(t, "db_one", "tbl_a", hourT-3600, false, "p2", "b1")
	want := []string{"a1", "a2", "b1"}
	now := time.Unix(hourT, 0)
	if _, err := e.handler(t, now, []Sink{td.sink()}).Handle(ctx, scheduled); err == nil {
		t.Fatal("first flush succeeded through an outage")
	}
	if got := e.sealedMsgs(t); !slices.Equal(got, want) {
		t.Errorf("sealed during the outage = %v, want %v", got, want)
	}
	if got := e.keys(t, "staged/"); len(got) != 0 {
		t.Errorf("staged objects kept for the endpoint: %v", got)
	}
	if got := e.manifests(t); !slices.Equal(got, []string{StateStored}) {
		t.Fatalf("manifests = %v, want one stored", got)
	}
	td.setDown(0)
	res, err := e.handler(t, now.Add(5*time.Second), []Sink{td.sink()}).Handle(ctx, scheduled)
	if err != nil || res.Waiting != 1 {
		t.Errorf("run before the retry time: %+v %v, want the manifest waiting", res, err)
	}
	if got := td.msgs(t); len(got) != 0 {
		t.Errorf("imported before the retry time: %v", got)
	}
	res, err = e.handler(t, now.Add(8*24*time.Hour), []Sink{td.sink()}).Handle(ctx, scheduled)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 1 || res.Manifests != 0 {
		t.Errorf("result = %+v, want the manifest resumed, none created", res)
	}
	if got := td.msgs(t); !slices.Equal(got, want) {
		t.Errorf("td = %v", got)
	}
	if got := e.manifests(t); len(got) != 0 {
		t.Errorf("manifests = %v, want none", got)
	}
}

// TestOneEndpointDownOthersFresh: one endpoint down does not delay S3 or
// the other endpoint, run after run, and catches up once it is back.
func TestOneEndpointDownOthersFresh(t *testing.T) {
	e := newTestEnv(t)
	up, down := newTDReceiver(t), newTDReceiver(t)
	down.setDown(500)
	ctx := context.Background()
	sinks := []Sink{down.sink(), up.sink()} // the failing one first
	var want []string
	now := time.Unix(hourT, 0)
	for i, m := range []string{"a1", "b1", "c1"} {
		e.stage(t, "db_one", "tbl_a", hourT, false, "p"+m, m)
		want = append(want, m)
		now = now.Add(time.Minute)
		if _, err := e.handler(t, now, sinks).Handle(ctx, scheduled); err == nil {
			t.Fatalf("run %d: no error with an endpoint down", i)
		}
		if got := e.sealedMsgs(t); !slices.Equal(got, want) {
			t.Errorf("run %d: sealed = %v, want %v", i, got, want)
		}
		if got := up.msgs(t); !slices.Equal(got, want) {
			t.Errorf("run %d: healthy endpoint = %v, want %v", i, got, want)
		}
	}
	down.setDown(0)
	if _, err := e.handler(t, now.Add(time.Hour), sinks).Handle(ctx, scheduled); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*tdReceiver{"recovered": down, "healthy": up} {
		if got := r.msgs(t); !slices.Equal(got, want) {
			t.Errorf("%s endpoint = %v, want %v", name, got, want)
		}
	}
}

// TestAuthErrorsRetriedNotParked: 401, 403 and a 404 that creating the
// table does not cure are about the endpoint, not the data: retried later,
// never parked.
func TestAuthErrorsRetriedNotParked(t *testing.T) {
	for _, status := range []int{401, 403, 404} {
		e := newTestEnv(t)
		td := newTDReceiver(t)
		td.setDown(status)
		ctx := context.Background()
		e.stage(t, "db_one", "tbl_a", hourT, false, "p1", "a1")
		res, err := e.handler(t, time.Unix(hourT, 0), []Sink{td.sink()}).Handle(ctx, forced)
		if err == nil || res.Parked != 0 || len(e.keys(t, "failed/")) != 0 {
			t.Errorf("%d: result %+v, err %v, failed/ %v: want an error and nothing parked", status, res, err, e.keys(t, "failed/"))
		}
		td.setDown(0)
		if _, err := e.handler(t, time.Unix(hourT, 0), []Sink{td.sink()}).Handle(ctx, forced); err != nil {
			t.Fatalf("%d: forced retry: %v", status, err)
		}
		if got := td.msgs(t); !slices.Equal(got, []string{"a1"}) {
			t.Errorf("%d: td = %v", status, got)
		}
	}
}
