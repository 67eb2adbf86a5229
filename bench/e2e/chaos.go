package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/edge"
	"github.com/spillwayhq/spillway/shared/backoff"
	"github.com/spillwayhq/spillway/shared/lambdaenv"
)

// chaosFlags are the chaos setting's knobs.
type chaosFlags struct {
	shards, pf, tables int
	burstEvery         time.Duration
	burstLen           time.Duration
	crashEvery         time.Duration
	flushEvery         time.Duration
	racing             int
	keep               bool
}

func (f *chaosFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.shards, "shards", 4, "chaos: stream shards (PROVISIONED)")
	fs.IntVar(&f.pf, "pf", 2, "chaos: event source mapping parallelization factor")
	fs.IntVar(&f.tables, "tables", 6, "chaos: tables written (the first gets half the requests)")
	fs.DurationVar(&f.burstEvery, "burst-every", 30*time.Second, "chaos: a throttling burst starts this often")
	fs.DurationVar(&f.burstLen, "burst-len", 10*time.Second, "chaos: how long a throttling burst lasts")
	fs.DurationVar(&f.crashEvery, "crash-every", time.Minute, "chaos: fanout and flush fault points are re-armed this often (each crashes once per arming)")
	fs.DurationVar(&f.flushEvery, "flush-every", 15*time.Second, "chaos: racing forced flushes start this often")
	fs.IntVar(&f.racing, "racing", 3, "chaos: forced flushes started at once")
	fs.BoolVar(&f.keep, "keep", false, "chaos: keep the local cloud's data dir (logs) and print its path")
}

// burst is what a throttling burst injects at the edge, on top of the AWS
// behaviours (TransactionConflict, limits) that are always on.
func burst(seed uint64) edge.FaultConfig {
	return edge.FaultConfig{Seed: seed, Rules: []edge.FaultRule{
		{Service: "kinesis", Operation: "PutRecords", Rate: 0.3, PartialFailure: 0.5},
		{Service: "kinesis", Operation: "GetRecords", Rate: 0.5, Status: 400, Code: "ProvisionedThroughputExceededException"},
		{Service: "dynamodb", Operation: "TransactWriteItems", Rate: 0.2, Status: 400, Code: "ProvisionedThroughputExceededException"},
		{Service: "dynamodb", Rate: 0.05, Status: 400, Code: "ThrottlingException"},
		{Service: "s3", Operation: "PutObject", Rate: 0.1, Status: 503, Code: "SlowDown"},
	}}
}

// apply sets the chaos setting's deployment on o: the stream's shards,
// the mapping's parallelization factor, and every fanout and flush fault
// point (flush.LakeFaultPoints included: flush crashes once after an
// append's data files are written and once after its commit) armed once.
func (f chaosFlags) apply(o *cloud.Options) {
	o.TerraformVars = map[string]string{"stream_shards": strconv.Itoa(f.shards), "esm_parallelization_factor": strconv.Itoa(f.pf)}
	o.FunctionEnv = map[string]map[string]string{
		"fanout": {lambdaenv.FaultPoint: onceEach(fanout.FaultPoints)},
		"flush":  {lambdaenv.FaultPoint: onceEach(append(slices.Clone(flush.FaultPoints), flush.LakeFaultPoints...))},
	}
}

func (f chaosFlags) validate() error {
	if f.shards < 1 || f.pf < 1 || f.pf > 10 || f.tables < 2 || f.racing < 1 {
		return errors.New("chaos: -shards >= 1, -pf 1..10, -tables >= 2 and -racing >= 1")
	}
	return nil
}

// runChaos is make chaos: it starts its own local cloud with the chaos
// setting, runs chaos on it and fails on any acknowledged event missing or
// doubled in a sink.
func runChaos(out io.Writer, f chaosFlags, duration time.Duration, rate float64, perReq int, drain time.Duration) error {
	if err := f.validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := cloud.DefaultOptions()
	opts.FreePorts()
	opts.NamePrefix = "spw-chaos"
	opts.KeepData = f.keep
	f.apply(&opts)
	fmt.Fprintf(out, "starting the local cloud (chaos: %d shards x parallelization factor %d, %d tables)...\n", f.shards, f.pf, f.tables)
	c, err := cloud.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	if f.keep {
		fmt.Fprintf(out, "data dir (kept): %s\n", c.DataDir)
	}
	res, err := chaos(ctx, c, out, f, duration, rate, perReq, drain)
	if err != nil {
		return err
	}
	return res.err()
}

// chaosResult is what a chaos run found.
type chaosResult struct {
	acct                    accounting
	unacked                 int   // requests never acknowledged (retried for retryFor)
	injected                int64 // throttles and failures the edge injected
	fanoutExits, flushExits int64 // crashes at fault points
	racingRuns              int64
}

// err reports a broken promise: an acknowledged event missing or doubled
// in a sink, the catalog counting other than what S3 holds, an event
// stored although its request was never acknowledged, or a request never
// acknowledged at all (ingest refused it for retryFor).
func (r chaosResult) err() error {
	a := r.acct
	if a.missing > 0 || a.dups > 0 || a.catalogOff > 0 || a.unackedStored > 0 || r.unacked > 0 {
		return fmt.Errorf("chaos: %d acknowledged events missing, %d duplicates, %d tables whose catalog count differs from S3, %d events stored without an acknowledgement, %d requests never acknowledged",
			a.missing, a.dups, a.catalogOff, a.unackedStored, r.unacked)
	}
	return nil
}

// chaos is the scale and fault run on c (deployed with chaosFlags.apply):
// several shards read with a parallelization factor above 1 (fanout runs
// shards x factor at once), many tables with one hot, throttling bursts at
// the edge, fanout and flush crashes at every fault point, racing forced
// flushes and TD endpoint failures, for a bounded time; then the faults
// stop, the pipeline drains, and every sink is read back in full
// (accounting). It reports on out.
func chaos(ctx context.Context, c *cloud.Cloud, out io.Writer, f chaosFlags, duration time.Duration, rate float64, perReq int, drain time.Duration) (chaosResult, error) {
	if err := f.validate(); err != nil {
		return chaosResult{}, err
	}
	tables := make([]string, f.tables)
	tables[0] = "hot"
	for i := 1; i < f.tables; i++ {
		tables[i] = fmt.Sprintf("cold_%02d", i)
	}
	b := newBench(c, tables)
	b.pollEvery = 3 * time.Second
	c.Edge.ResetCalls()
	c.Edge.ResetFaultCounters()
	fmt.Fprintf(out, "sending %.0f requests/s of %d events for %s under chaos (fanout concurrency %d, lake on: %v)\n", rate, perReq, duration, f.shards*f.pf, c.LakeOn())

	chaosCtx, stopChaos := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var racingErrs, racingRuns int64
	var mu sync.Mutex
	every := func(d time.Duration, fn func(n int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(d)
			defer t.Stop()
			for n := 0; ; n++ {
				select {
				case <-chaosCtx.Done():
					return
				case <-t.C:
				}
				fn(n)
			}
		}()
	}
	every(f.burstEvery, func(n int) {
		if err := c.Edge.SetFaults(burst(uint64(n + 1))); err != nil {
			fmt.Fprintln(os.Stderr, "set faults:", err)
		}
		c.TD.FailNext(3, 500, 0)
		_ = backoff.Sleep(chaosCtx, f.burstLen)
		_ = c.Edge.SetFaults(edge.FaultConfig{})
	})
	every(f.crashEvery, func(int) { rearm(c.FunctionTmpDir) })
	every(f.flushEvery, func(int) {
		var fw sync.WaitGroup
		for range f.racing {
			fw.Add(1)
			go func() {
				defer fw.Done()
				_, err := c.Functions["flush"].Runner.Invoke(chaosCtx, []byte(`{"source":"spillway.ingest","force":true}`))
				mu.Lock()
				racingRuns++
				if err != nil {
					racingErrs++
				}
				mu.Unlock()
			}()
		}
		fw.Wait()
	})

	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	var pw sync.WaitGroup
	pw.Add(1)
	go func() { defer pw.Done(); b.poll(pollCtx) }()
	start := time.Now()
	sendErr := b.send(ctx, duration, rate, perReq)
	sent := time.Since(start)
	stopChaos()
	wg.Wait()
	_, injected := c.Edge.Faults()
	if err := c.Edge.SetFaults(edge.FaultConfig{}); err != nil {
		return chaosResult{}, err
	}
	if sendErr != nil {
		stopPoll()
		pw.Wait()
		return chaosResult{}, sendErr
	}

	// Drain: forced flushes, while the mapping reads the stream to its end,
	// until every sink holds every acknowledged event (or the drain time is
	// over). The fault points stay disarmed once they have fired.
	dctx, cancel := context.WithTimeout(ctx, drain)
	defer cancel()
	fmt.Fprintf(out, "sent for %s; draining (at most %s)...\n", sent.Round(time.Second), drain)
	drainStart := time.Now()
	for dctx.Err() == nil {
		if b.complete() && b.lakeComplete(dctx) {
			break
		}
		if err := c.Flush(dctx); err != nil && dctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "flush:", err)
		}
		// Bounded: a flush that keeps failing is retried asynchronously
		// and would hold WaitAsync for the whole drain.
		wctx, wcancel := context.WithTimeout(dctx, 15*time.Second)
		_ = c.Functions["flush"].Runner.WaitAsync(wctx)
		wcancel()
		_ = backoff.Sleep(dctx, 2*time.Second)
	}
	stopPoll()
	pw.Wait()
	fmt.Fprintf(out, "drained in %s\n", time.Since(drainStart).Round(time.Second))

	b.report(out, "chaos", sent)
	acct, err := b.account(ctx)
	if err != nil {
		return chaosResult{}, err
	}
	acct.print(out)
	fmt.Fprintf(out, "\nfaults and retries during the run:\n")
	printCounters(out, "edge (injected faults and AWS behaviours)", injected)
	st := c.ESM.Stats()
	fmt.Fprintf(out, "- event source mapping: %d batches, %d retries, %d bisects, %d partial failures, %d batches (%d records) to on-failure, %d poll errors, at most %d batches at once\n",
		st.Batches, st.Retries, st.Bisects, st.PartialFailures, st.OnFailureBatches, st.OnFailureRecords, st.PollErrors, st.MaxConcurrent)
	for _, fn := range []string{"ingest", "fanout", "flush"} {
		rs := c.Functions[fn].Runner.Stats()
		fmt.Fprintf(out, "- %s: %d invocations, %d errors, %d crashes (exits), %d timeouts, %d async dropped\n",
			fn, rs.Invocations, rs.Errors, rs.Exits, rs.Timeouts, rs.AsyncFailed)
	}
	fmt.Fprintf(out, "- racing forced flushes: %d runs, %d ended in an error (crashes included)\n", racingRuns, racingErrs)
	fmt.Fprintf(out, "- TD receiver: %d injected failures\n", c.TD.Failures())
	res := chaosResult{acct: acct, racingRuns: racingRuns,
		fanoutExits: c.Functions["fanout"].Runner.Stats().Exits, flushExits: c.Functions["flush"].Runner.Stats().Exits}
	b.mu.Lock()
	res.unacked = b.errs
	b.mu.Unlock()
	var conflicts int64
	for k, v := range injected {
		switch {
		case strings.Contains(k, "TransactionConflict"):
			conflicts += v
		case strings.HasSuffix(k, ".records"): // the records of a partial failure, counted once as PartialFailure
		default:
			res.injected += v
		}
	}
	if acct.acked > 0 {
		per := 1000 / float64(acct.acked)
		fmt.Fprintf(out, "- per 1,000 acknowledged events: %.1f transaction conflicts, %.1f injected throttles and failures, %.1f ESM retries and bisects, %.1f fanout and flush crashes\n",
			float64(conflicts)*per, float64(res.injected)*per, float64(st.Retries+st.Bisects)*per, float64(res.fanoutExits+res.flushExits)*per)
	}
	if st.OnFailureBatches > 0 {
		fmt.Fprintf(out, "records were sent to the on-failure queue: `spillway replay on-failure` puts them back (docs/OPERATIONS.md)\n")
	}
	return res, nil
}

// onceEach arms every point once (shared/fault "@once").
func onceEach(points []string) string {
	specs := make([]string, len(points))
	for i, p := range points {
		specs[i] = p + "@once"
	}
	return strings.Join(specs, ",")
}

// rearm deletes the fault points' once-markers, so each crashes once more.
func rearm(dir string) {
	markers, _ := filepath.Glob(filepath.Join(dir, "spillway-fault-*"))
	for _, m := range markers {
		_ = os.Remove(m)
	}
}

func printCounters(out io.Writer, what string, counters map[string]int64) {
	keys := make([]string, 0, len(counters))
	for k := range counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counters[k])
	}
	fmt.Fprintf(out, "- %s: %s\n", what, strings.Join(parts, ", "))
}

// accounting is the exact comparison of acknowledged events with the sinks.
type accounting struct {
	rows                  []accountRow
	lake                  bool // the lake is on and was compared
	acked, missing, dups  int
	unackedStored, sealed int // unackedStored: in S3 without an acknowledgement
	catalogOff            int // tables whose catalog count is not what S3 holds
}

type accountRow struct {
	table                                                string
	acked, s3, td, lake, catalog, missing, dups, unacked int
}

// lakeSeqs counts the lake's records of table by sequence number.
func (b *bench) lakeSeqs(ctx context.Context, table string) (map[int64]int, error) {
	recs, err := b.c.LakeRecords(ctx, db, table)
	if err != nil {
		return nil, err
	}
	out := map[int64]int{}
	for _, r := range recs {
		if seq, ok := asInt(r["seq"]); ok {
			out[seq]++
		}
	}
	return out, nil
}

// lakeComplete reports whether the lake (when on) holds as many distinct
// events of each table as were acknowledged for it.
func (b *bench) lakeComplete(ctx context.Context) bool {
	if !b.c.LakeOn() {
		return true
	}
	for i, table := range b.tables {
		b.mu.Lock()
		acked := 0
		for seq, t := range b.acks {
			if !t.IsZero() && b.tableOf[seq] == i {
				acked++
			}
		}
		b.mu.Unlock()
		seqs, err := b.lakeSeqs(ctx, table)
		if err != nil || len(seqs) < acked {
			return false
		}
	}
	return true
}

// account reads every sink in full and compares, per table, the sequence
// numbers found with those acknowledged: each must be in S3 data/, in the
// TD receiver and (when on) in the lake exactly once, and the catalog must
// count what S3 holds.
func (b *bench) account(ctx context.Context) (accounting, error) {
	b.mu.Lock()
	ackedBy := make([]map[int64]bool, len(b.tables))
	for i := range ackedBy {
		ackedBy[i] = map[int64]bool{}
	}
	for seq, t := range b.acks {
		if !t.IsZero() {
			ackedBy[b.tableOf[seq]][int64(seq)] = true
		}
	}
	b.mu.Unlock()
	entries, err := b.c.Catalog(ctx)
	if err != nil {
		return accounting{}, err
	}
	counted := map[string]int64{}
	for _, e := range entries {
		if e.DB == db {
			counted[e.Table] = e.Count
		}
	}
	a := accounting{lake: b.c.LakeOn()}
	for i, table := range b.tables {
		sealed, err := b.c.SealedObjects(ctx, db, table)
		if err != nil {
			return a, err
		}
		inS3, inTD := map[int64]int{}, map[int64]int{}
		for _, r := range sealed.Records {
			if seq, ok := asInt(r["seq"]); ok {
				inS3[seq]++
			}
		}
		for _, r := range b.c.TD.Records(db, table) {
			if seq, ok := asInt(r["seq"]); ok {
				inTD[seq]++
			}
		}
		sinks := []map[int64]int{inS3, inTD}
		row := accountRow{table: table, acked: len(ackedBy[i]), s3: len(sealed.Records), td: b.c.TD.Count(db, table), catalog: int(counted[table])}
		if a.lake {
			inLake, err := b.lakeSeqs(ctx, table)
			if err != nil {
				return a, err
			}
			sinks = append(sinks, inLake)
			for _, n := range inLake {
				row.lake += n
			}
		}
		row.missing, row.dups, row.unacked = tally(ackedBy[i], sinks)
		if row.catalog != row.s3 {
			a.catalogOff++
		}
		a.rows = append(a.rows, row)
		a.acked += row.acked
		a.missing += row.missing
		a.dups += row.dups
		a.unackedStored += row.unacked
		a.sealed += row.s3
	}
	return a, nil
}

// tally compares the acknowledged sequence numbers with what each sink
// holds (sequence number -> copies; sinks[0] is S3): missing counts an
// acknowledged event absent from a sink (once per sink), dups every copy
// beyond the first in a sink, unacked the events S3 holds that were never
// acknowledged.
func tally(acked map[int64]bool, sinks []map[int64]int) (missing, dups, unacked int) {
	for seq := range acked {
		for _, m := range sinks {
			if m[seq] == 0 {
				missing++
			}
		}
	}
	for _, m := range sinks {
		for _, n := range m {
			if n > 1 {
				dups += n - 1
			}
		}
	}
	if len(sinks) > 0 {
		for seq := range sinks[0] {
			if !acked[seq] {
				unacked++
			}
		}
	}
	return missing, dups, unacked
}

func (a accounting) print(out io.Writer) {
	lake := "off"
	if a.lake {
		lake = "on"
	}
	fmt.Fprintf(out, "\nexact accounting (every acknowledged event once in S3 data/, once in TD and, when on, once in the lake; the catalog counts what S3 holds; lake %s):\n", lake)
	fmt.Fprintf(out, "| table | acknowledged | S3 | TD | lake | catalog | missing | duplicates | stored, not acknowledged |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range a.rows {
		fmt.Fprintf(out, "| %s | %d | %d | %d | %d | %d | %d | %d | %d |\n", r.table, r.acked, r.s3, r.td, r.lake, r.catalog, r.missing, r.dups, r.unacked)
	}
	fmt.Fprintf(out, "total: %d acknowledged, %d missing, %d duplicates, %d stored without an acknowledgement, %d tables whose catalog count differs from S3\n",
		a.acked, a.missing, a.dups, a.unackedStored, a.catalogOff)
}
