package replay

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/spillwayhq/spillway/shared/envelope"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

// bigN events of bigEvents compress to more than one record holds (2 parts).
const bigN = 1300

// bigEvents is a body of n events of incompressible text, msg = big-<i>.
func bigEvents(tb testing.TB, t int64, n int) []byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	pad := make([]byte, 900)
	var raws [][]byte
	for i := range n {
		for j := range pad {
			pad[j] = byte(rng.Uint32())
		}
		b, err := msgpack.Marshal(map[string]any{"time": t, "msg": fmt.Sprintf("big-%d", i), "pad": base64.StdEncoding.EncodeToString(pad)})
		if err != nil {
			tb.Fatal(err)
		}
		raws = append(raws, b)
	}
	return tdrecord.GzipStream(raws...)
}

// TestReplayFuture: a quarantined future object waits until its events
// are within the future limit (or --force), then is re-imported through
// the stream under a unique_id derived from its key, in as many parts as
// it needs; fanout stores each event once however often it is replayed; a
// dry run and a second replay change nothing.
func TestReplayFuture(t *testing.T) {
	cases := []struct {
		name      string
		body      func(t int64) []byte
		wantParts int
		want      []string
	}{
		{"one part", func(ft int64) []byte { return gzipEvents(t, "f", ft, ft+1) }, 1, []string{"f-0", "f-1"}},
		{"split into parts", func(ft int64) []byte { return bigEvents(t, ft, bigN) }, 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			base := time.Now()
			ft := base.Add(3 * time.Hour).Unix()
			later := base.Add(3 * time.Hour)
			key := layout.QuarantineFutureKey(layout.PartitionOf("web", "access", ft), "web.access.u9.0")
			body := tc.body(ft)
			e.putObject(t, key, body)
			want := tc.want
			if want == nil {
				for i := range bigN {
					want = append(want, fmt.Sprintf("big-%d", i))
				}
				slices.Sort(want)
			}

			before := e.state(t)
			res, out := e.replay(t, SourceFuture, base, nil)
			if res != (Result{Source: SourceFuture, Found: 1, Waiting: 1}) || !strings.Contains(out, "wait "+key) {
				t.Fatalf("replay before due = %+v\n%s", res, out)
			}
			res, out = e.replay(t, SourceFuture, base, func(c *Config) { c.DryRun, c.Force = true, true })
			if res != (Result{Source: SourceFuture, Found: 1, Replayed: 1}) || !strings.Contains(out, fmt.Sprintf("would re-import %s", key)) ||
				!strings.Contains(out, fmt.Sprintf("in %d part(s)", tc.wantParts)) {
				t.Fatalf("forced dry run = %+v\n%s", res, out)
			}
			if after := e.state(t); !reflect.DeepEqual(before, after) {
				t.Fatalf("waiting and dry run changed state:\n%+v\n%+v", before, after)
			}

			res, out = e.replay(t, SourceFuture, later, nil)
			if res != (Result{Source: SourceFuture, Found: 1, Replayed: 1}) {
				t.Fatalf("replay when due = %+v\n%s", res, out)
			}
			recs := e.streamRecords(t)
			if len(recs) != tc.wantParts {
				t.Fatalf("stream holds %d records, want %d parts", len(recs), tc.wantParts)
			}
			for i, r := range recs {
				env, err := envelope.Unmarshal(r.Data)
				if err != nil || env.UniqueID != FutureUniqueID(key) || env.Part != i || env.Parts != tc.wantParts || env.DB != "web" || env.Table != "access" {
					t.Fatalf("record %d: %v %+v", i, err, env)
				}
			}
			if len(e.objects(t, layout.PrefixQuarantine)) != 0 {
				t.Fatal("future object not deleted")
			}
			e.fanoutNew(t, later)
			if got := e.stored(t); !reflect.DeepEqual(got, want) {
				t.Fatalf("fanout stored %d events, want %d", len(got), len(want))
			}

			before = e.state(t)
			if res, _ := e.replay(t, SourceFuture, later, nil); res != (Result{Source: SourceFuture}) {
				t.Fatalf("second replay = %+v", res)
			}
			if after := e.state(t); !reflect.DeepEqual(before, after) {
				t.Fatalf("second replay changed state")
			}

			// Interrupted after the put, before the delete: the object is back.
			e.putObject(t, key, body)
			if res, _ := e.replay(t, SourceFuture, later, nil); res.Replayed != 1 {
				t.Fatalf("replay after interruption = %+v", res)
			}
			e.fanoutNew(t, later)
			if got := e.stored(t); !reflect.DeepEqual(got, want) {
				t.Fatalf("after a repeated replay fanout stored %d events, want %d", len(got), len(want))
			}
		})
	}
}
