package main

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/localtest"
)

// TestChaosShort is the short version of make chaos that make test runs:
// the same driver with the same defaults but small (2 shards x
// parallelization factor 2, 3 tables with one hot, one throttling burst
// with TD 500s, every fault point armed once, one round of 3 racing forced
// flushes, 40 s of traffic, the lake on), then exact accounting: every
// acknowledged event exactly once in S3 data/, in the TD receiver and in
// the lake, the catalog counting what S3 holds, nothing stored that was
// not acknowledged and every request acknowledged.
func TestChaosShort(t *testing.T) {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	var f chaosFlags
	f.register(fs)
	// The burst starts at 25 s, the racing flushes at 30 s; the fault
	// points are armed once at deployment and never re-armed.
	if err := fs.Parse(strings.Fields("-shards 2 -pf 2 -tables 3 -burst-every 25s -burst-len 5s -crash-every 1h -flush-every 30s -racing 3")); err != nil {
		t.Fatal(err)
	}
	c := localtest.Start(t, localtest.WithOptions(func(o *cloud.Options) { f.apply(o) }))
	if !c.LakeOn() {
		t.Fatal("the local cloud's lake is off: the chaos run must check it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var out strings.Builder
	res, err := chaos(ctx, c, &out, f, 40*time.Second, 5, 5, 3*time.Minute)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := res.err(); err != nil {
		t.Error(err)
	}
	// The run exercised what it claims to.
	if res.acct.acked == 0 || res.injected == 0 || res.fanoutExits == 0 || res.flushExits == 0 || res.racingRuns != 3 {
		t.Errorf("acknowledged %d, injected faults %d, fanout crashes %d, flush crashes %d, racing flushes %d: want each > 0 (3 racing flushes)",
			res.acct.acked, res.injected, res.fanoutExits, res.flushExits, res.racingRuns)
	}
}

// TestTally: the accounting finds every kind of broken promise.
func TestTally(t *testing.T) {
	acked := map[int64]bool{1: true, 2: true, 3: true}
	tests := []struct {
		name                     string
		sinks                    []map[int64]int
		missing, dups, unackedS3 int
	}{
		{name: "exact", sinks: []map[int64]int{{1: 1, 2: 1, 3: 1}, {1: 1, 2: 1, 3: 1}, {1: 1, 2: 1, 3: 1}}},
		{name: "missing in TD", sinks: []map[int64]int{{1: 1, 2: 1, 3: 1}, {1: 1, 3: 1}, {1: 1, 2: 1, 3: 1}}, missing: 1},
		{name: "missing everywhere", sinks: []map[int64]int{{1: 1, 2: 1}, {1: 1, 2: 1}, {1: 1, 2: 1}}, missing: 3},
		{name: "doubled in the lake", sinks: []map[int64]int{{1: 1, 2: 1, 3: 1}, {1: 1, 2: 1, 3: 1}, {1: 1, 2: 3, 3: 1}}, dups: 2},
		{name: "stored without an ack", sinks: []map[int64]int{{1: 1, 2: 1, 3: 1, 4: 1}, {1: 1, 2: 1, 3: 1, 4: 1}}, unackedS3: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, d, u := tally(acked, tc.sinks)
			if m != tc.missing || d != tc.dups || u != tc.unackedS3 {
				t.Errorf("tally = missing %d, duplicates %d, unacknowledged %d; want %d, %d, %d", m, d, u, tc.missing, tc.dups, tc.unackedS3)
			}
		})
	}
}
