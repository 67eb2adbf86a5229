package flush

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"
)

// TestDrivenManifestLeftToItsRun checks that a run leaves a manifest that
// another run moved on less than drivenFor ago to that run (counted as
// driven, its staged objects neither read nor sealed twice), resumes it
// once drivenFor has passed (a crashed run's manifest is never stuck), and
// that a forced run resumes it at once.
func TestDrivenManifestLeftToItsRun(t *testing.T) {
	tests := []struct {
		name        string
		after       time.Duration
		req         string
		wantResumed int
		wantDriven  int
	}{
		{"scheduled, just after", 5 * time.Second, "scheduled", 0, 1},
		{"scheduled, after drivenFor", drivenFor, "scheduled", 1, 0},
		{"forced, just after", 5 * time.Second, "forced", 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			td := newTDReceiver(t)
			ctx := context.Background()
			due, current := stageCorpus(t, e)
			all := append(due, current...)
			sort.Strings(all)
			now := time.Unix(hourT+1200, 0)
			crashForcedRun(t, e, now, []Sink{td.sink()}, "after-claim")
			req := map[string][]byte{"scheduled": scheduled, "forced": forced}[tc.req]
			res, err := e.handler(t, now.Add(tc.after), []Sink{td.sink()}).Handle(ctx, req)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if res.Resumed != tc.wantResumed || res.Driven != tc.wantDriven || res.Manifests != 0 {
				t.Fatalf("second run: resumed %d, driven %d, new manifests %d; want %d, %d, 0", res.Resumed, res.Driven, res.Manifests, tc.wantResumed, tc.wantDriven)
			}
			want := all
			if tc.wantDriven > 0 {
				want = nil
			}
			if got := e.sealedMsgs(t); !slices.Equal(got, want) {
				t.Errorf("sealed = %v, want %v", got, want)
			}
		})
	}
}
