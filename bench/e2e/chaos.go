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
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spillwayhq/spillway/functions/fanout"
	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/edge"
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

// runChaos is the scale and fault run: several shards read with a
// parallelization factor above 1 (fanout runs shards x factor at once),
// many tables with one hot, throttling bursts at the edge, fanout and
// flush crashes at every fault point, racing forced flushes and TD
// endpoint failures, for a bounded time; then the faults stop, the
// pipeline drains, and every acknowledged event must be in S3 data/ and in
// the TD receiver exactly once.
func runChaos(out io.Writer, f chaosFlags, duration time.Duration, rate float64, perReq int, drain time.Duration) error {
	if f.shards < 1 || f.pf < 1 || f.pf > 10 || f.tables < 2 || f.racing < 1 {
		return errors.New("chaos: -shards >= 1, -pf 1..10, -tables >= 2 and -racing >= 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := cloud.DefaultOptions()
	opts.EdgeAddr, opts.APIAddr, opts.TDAddr, opts.RESTAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	opts.NamePrefix = "spw-chaos"
	opts.KeepData = f.keep
	opts.TerraformVars = map[string]string{"stream_shards": strconv.Itoa(f.shards), "esm_parallelization_factor": strconv.Itoa(f.pf)}
	opts.FunctionEnv = map[string]map[string]string{
		"fanout": {lambdaenv.FaultPoint: onceEach(fanout.FaultPoints)},
		"flush":  {lambdaenv.FaultPoint: onceEach(flush.FaultPoints)},
	}
	fmt.Fprintf(out, "starting the local cloud (chaos: %d shards x parallelization factor %d, %d tables)...\n", f.shards, f.pf, f.tables)
	c, err := cloud.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	if f.keep {
		fmt.Fprintf(out, "data dir (kept): %s\n", c.DataDir)
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
	fmt.Fprintf(out, "sending %.0f requests/s of %d events for %s under chaos (fanout concurrency %d)\n", rate, perReq, duration, f.shards*f.pf)

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
		select {
		case <-chaosCtx.Done():
		case <-time.After(f.burstLen):
		}
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
		return err
	}
	if sendErr != nil {
		stopPoll()
		pw.Wait()
		return sendErr
	}

	// Drain: forced flushes, while the mapping reads the stream to its end,
	// until every sink holds every acknowledged event (or the drain time is
	// over). The fault points stay disarmed once they have fired.
	dctx, cancel := context.WithTimeout(ctx, drain)
	defer cancel()
	fmt.Fprintf(out, "sent for %s; draining (at most %s)...\n", sent.Round(time.Second), drain)
	drainStart := time.Now()
	for !b.complete() && dctx.Err() == nil {
		if err := c.Flush(dctx); err != nil && dctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "flush:", err)
		}
		// Bounded: a flush that keeps failing is retried asynchronously
		// and would hold WaitAsync for the whole drain.
		wctx, wcancel := context.WithTimeout(dctx, 15*time.Second)
		_ = c.Functions["flush"].Runner.WaitAsync(wctx)
		wcancel()
		select {
		case <-dctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	stopPoll()
	pw.Wait()
	fmt.Fprintf(out, "drained in %s\n", time.Since(drainStart).Round(time.Second))

	b.report(out, "chaos", sent)
	acct, err := b.account(ctx)
	if err != nil {
		return err
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
	var conflicts, throttles int64
	for k, v := range injected {
		switch {
		case strings.Contains(k, "TransactionConflict"):
			conflicts += v
		case strings.HasSuffix(k, ".records"): // the records of a partial failure, counted once as PartialFailure
		default:
			throttles += v
		}
	}
	if acct.acked > 0 {
		per := 1000 / float64(acct.acked)
		fmt.Fprintf(out, "- per 1,000 acknowledged events: %.1f transaction conflicts, %.1f injected throttles and failures, %.1f ESM retries and bisects, %.1f fanout and flush crashes\n",
			float64(conflicts)*per, float64(throttles)*per, float64(st.Retries+st.Bisects)*per,
			float64(c.Functions["fanout"].Runner.Stats().Exits+c.Functions["flush"].Runner.Stats().Exits)*per)
	}
	if st.OnFailureBatches > 0 {
		fmt.Fprintf(out, "records were sent to the on-failure queue: `spillway replay on-failure` puts them back (docs/OPERATIONS.md)\n")
	}
	if acct.missing > 0 || acct.dups > 0 {
		return fmt.Errorf("chaos: %d acknowledged events missing, %d duplicates", acct.missing, acct.dups)
	}
	return nil
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
	acked, missing, dups  int
	unackedStored, sealed int // unackedStored: in S3 without an acknowledgement
}

type accountRow struct {
	table                                          string
	acked, s3, td, catalog, missing, dups, unacked int
}

// account reads every sink in full and compares, per table, the sequence
// numbers found with those acknowledged: each must be in S3 data/ and in
// the TD receiver exactly once, and the catalog must count what S3 holds.
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
	var a accounting
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
		row := accountRow{table: table, acked: len(ackedBy[i]), s3: len(sealed.Records), td: b.c.TD.Count(db, table), catalog: int(counted[table])}
		for seq := range ackedBy[i] {
			for _, n := range []int{inS3[seq], inTD[seq]} {
				if n == 0 {
					row.missing++
				}
			}
		}
		for _, m := range []map[int64]int{inS3, inTD} {
			for _, n := range m {
				if n > 1 {
					row.dups += n - 1
				}
			}
		}
		for seq := range inS3 {
			if !ackedBy[i][seq] {
				row.unacked++
			}
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

func (a accounting) print(out io.Writer) {
	fmt.Fprintf(out, "\nexact accounting (every acknowledged event once in S3 data/ and once in TD):\n")
	fmt.Fprintf(out, "| table | acknowledged | S3 | TD | catalog | missing | duplicates | stored, not acknowledged |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range a.rows {
		fmt.Fprintf(out, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", r.table, r.acked, r.s3, r.td, r.catalog, r.missing, r.dups, r.unacked)
	}
	fmt.Fprintf(out, "total: %d acknowledged, %d missing, %d duplicates, %d stored without an acknowledgement (requests the client gave up on)\n",
		a.acked, a.missing, a.dups, a.unackedStored)
}
