// Command e2e measures freshness: it starts the local cloud (the deployed
// Terraform's schedule and settings), sends events through the API front at
// a steady rate as Fluentd in_http requests, and reports, per sink, the
// time from each event's 2xx to the moment it is visible there: sealed in
// S3 (data/), imported by the TD receiver, appended to the Iceberg lake,
// counted in the catalog. No
// /v1/flush is ever sent: what seals is fanout's flush request and the
// schedule.
//
//	go run ./bench/e2e -duration 3m -rate 20 -events 5 [-setting default|low-latency]
//
// The chaos setting (make chaos) is the scale and fault test: see chaos.go.
// TestChaosShort runs it for 40 s on a small deployment in make test.
//
//	go run ./bench/e2e -setting chaos -duration 5m [-shards 4 -pf 3 -tables 6]
//
// The low-latency setting deploys seal_after 0s (fanout asks for a flush
// after every commit; the default waits until a table's oldest unsealed
// commit is 30 s old), sweep_every 10s (the default sweeps every 30 s) and
// a 0 s batching window for the event source mapping (the default is 1 s);
// see BENCHMARKS.md.
//
// S3 and TD visibility are exact per event (each event carries its
// sequence number). The lake (when the deployment has it on) is polled at
// most every lakePollEvery, cheaply: the table's snapshot seal ids (Glue
// GetTable and the metadata.json, no data scan), each mapped to the events
// of the sealed objects it appended (see lakeSeals); its times (taken when
// a poll's read returns) are upper bounds with a resolution of about
// lakePollEvery. The catalog holds counts, not events: an event counts as
// visible in the catalog when the count reaches its rank in ack order,
// which is exact for one shard (the local stream has one) and a bound
// otherwise.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/shared/backoff"
	"github.com/spillwayhq/spillway/shared/lake"
	"github.com/spillwayhq/spillway/shared/layout"
	"github.com/spillwayhq/spillway/shared/tdrecord"
)

const (
	db    = "bench"
	table = "fresh"
	// retryFor is how long a request is retried before it counts as
	// failed (never acknowledged).
	retryFor = time.Minute
	// lowLatencyVars is the low-latency setting, from the module root.
	lowLatencyVars = "infra/terraform/examples/local/low-latency.tfvars"
	// lakePollEvery is how often the freshness runs read the lake's seal
	// ids: each read is a Glue GetTable and a metadata.json GET, which
	// grows with the table's snapshots.
	lakePollEvery = time.Second
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("e2e", flag.ContinueOnError)
	duration := fs.Duration("duration", 3*time.Minute, "how long to send")
	rate := fs.Float64("rate", 20, "requests per second")
	perReq := fs.Int("events", 5, "events per request")
	setting := fs.String("setting", "default", "default or low-latency")
	drain := fs.Duration("drain", 5*time.Minute, "how long to wait for the last events after sending stops")
	sealAfter := fs.String("seal-after", "", "override the setting's seal_after (a Go duration)")
	dataDir := fs.String("data-dir", "", "keep the local cloud's logs (logs/; edge.log then has a line per AWS call) and data in this directory (default: a temporary one, removed)")
	var ch chaosFlags
	ch.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *setting {
	case "default":
	case "chaos":
		return runChaos(out, ch, *duration, *rate, *perReq, *drain)
	case "low-latency":
		// The local cloud applies examples/local with these extra arguments.
		root, err := cloud.RepoRoot("")
		if err != nil {
			return err
		}
		os.Setenv("TF_CLI_ARGS_apply", strings.TrimSpace(os.Getenv("TF_CLI_ARGS_apply")+" -var-file="+filepath.Join(root, lowLatencyVars)))
	default:
		return fmt.Errorf("-setting: %q is not default, low-latency or chaos", *setting)
	}
	if *sealAfter != "" {
		if _, err := time.ParseDuration(*sealAfter); err != nil {
			return fmt.Errorf("-seal-after: %w", err)
		}
		// The last -var wins.
		os.Setenv("TF_CLI_ARGS_apply", strings.TrimSpace(os.Getenv("TF_CLI_ARGS_apply")+" -var=seal_after="+*sealAfter))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Fprintf(out, "starting the local cloud (setting %s)...\n", *setting)
	opts := cloud.DefaultOptions()
	// Free ports: the benchmark runs beside a `make local-up` cloud.
	opts.FreePorts()
	opts.NamePrefix = "spw-bench"
	opts.DataDir = *dataDir
	opts.TraceCalls = *dataDir != ""
	c, err := cloud.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(out, "flush schedule %s; sending %.0f requests/s of %d events for %s\n", c.FlushSchedule, *rate, *perReq, *duration)

	b := newBench(c, []string{table})
	if c.LakeOn() {
		if b.lake, err = lake.New(c.AWS, lake.Config{ReadOnly: true, S3Endpoint: c.EdgeURL}); err != nil {
			return fmt.Errorf("lake reader: %w", err)
		}
	} else {
		fmt.Fprintln(out, "the deployment's lake is off: not measured")
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.poll(pollCtx) }()
	c.Edge.ResetCalls() // count the run's calls, not the deployment's
	start := time.Now()
	if err := b.send(ctx, *duration, *rate, *perReq); err != nil {
		stopPoll()
		return err
	}
	sent := time.Since(start)
	deadline := time.Now().Add(*drain)
	for !b.complete() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
	}
	stopPoll()
	wg.Wait()
	b.report(out, *setting, sent)
	return nil
}

type bench struct {
	c      *cloud.Cloud
	s3     *s3.Client
	tables []string // tables[0] gets every request with one table, half of them with more
	// pollEvery is how often the sinks are read: 250 ms for the freshness
	// figures; chaos reads less often (its polling of several tables would
	// be a large part of the emulator's load).
	pollEvery time.Duration

	mu      sync.Mutex
	acks    []time.Time                    // by sequence number
	tableOf []int                          // by sequence number: index in tables
	seen    map[string]map[int64]time.Time // sink -> seq -> first seen
	s3keys  map[string]bool                // sealed objects already read
	// lake, when set, is polled every lakePollEvery for its seal ids
	// (the freshness runs; chaos scans the lake once, at the end).
	lake     *lake.Lake
	lakeLast time.Time // last lake poll
	seals    *lakeSeals
	errs     int
}

func newBench(c *cloud.Cloud, tables []string) *bench {
	return &bench{c: c, s3: s3.NewFromConfig(c.AWS, func(o *s3.Options) { o.UsePathStyle = true; o.DisableLogOutputChecksumValidationSkipped = true }), tables: tables, pollEvery: 250 * time.Millisecond,
		seen: map[string]map[int64]time.Time{}, s3keys: map[string]bool{}, seals: newLakeSeals()}
}

// pickTable returns the table of request number n: every other request
// goes to the first (hot) table, the rest round-robin over the others.
func (b *bench) pickTable(n int64) int {
	if len(b.tables) == 1 || n%2 == 0 {
		return 0
	}
	return 1 + int(n/2)%(len(b.tables)-1)
}

// send posts in_http JSON arrays at a steady rate; each event carries its
// sequence number. Events are numbered when their request is acknowledged.
func (b *bench) send(ctx context.Context, d time.Duration, rate float64, perReq int) error {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	var next int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		b.mu.Lock()
		first := next
		next += int64(perReq)
		ti := b.pickTable(first / int64(perReq))
		b.acks = append(b.acks, make([]time.Time, perReq)...)
		for range perReq {
			b.tableOf = append(b.tableOf, ti)
		}
		b.mu.Unlock()
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			b.post(ctx, b.tables[ti], first, perReq)
		}()
	}
	wg.Wait()
	return nil
}

func (b *bench) post(ctx context.Context, table string, first int64, n int) {
	evs := make([]map[string]any, n)
	for i := range evs {
		evs[i] = map[string]any{"seq": first + int64(i), "time": time.Now().Unix(), "msg": "fresh"}
	}
	body, _ := json.Marshal(evs)
	// Retry like a forwarder, for up to retryFor: a throttling burst can
	// make ingest answer 5xx for seconds.
	giveUp := time.Now().Add(retryFor)
	for attempt := 0; time.Now().Before(giveUp); attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.c.APIURL+"/td."+db+"."+table, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "TD1 "+b.c.APIKey)
		// One unique_id per request, the same on every retry.
		q := req.URL.Query()
		q.Set("unique_id", fmt.Sprintf("bench-%d", first))
		req.URL.RawQuery = q.Encode()
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				now := time.Now()
				b.mu.Lock()
				for i := range n {
					b.acks[first+int64(i)] = now
				}
				b.mu.Unlock()
				return
			}
		}
		if backoff.Sleep(ctx, backoff.Equal(100*time.Millisecond, 2*time.Second, attempt)) != nil {
			break
		}
	}
	b.mu.Lock()
	b.errs++
	b.mu.Unlock()
}

// poll looks at every sink every pollEvery until ctx ends.
func (b *bench) poll(ctx context.Context) {
	t := time.NewTicker(b.pollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, t := range b.tables {
			b.pollTD(t)
			if err := b.pollS3(ctx, t); err != nil && ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "poll s3:", err)
			}
		}
		if b.lake != nil && time.Since(b.lakeLast) >= lakePollEvery {
			b.lakeLast = time.Now()
			for _, t := range b.tables {
				if err := b.pollLake(ctx, t); err != nil && ctx.Err() == nil {
					fmt.Fprintln(os.Stderr, "poll lake:", err)
				}
			}
		}
		if len(b.tables) > 1 {
			continue // catalog ranks need one table (see pollCatalog)
		}
		if err := b.pollCatalog(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "poll catalog:", err)
		}
	}
}

func (b *bench) mark(sink string, seq int64, at time.Time) {
	m := b.seen[sink]
	if m == nil {
		m = map[int64]time.Time{}
		b.seen[sink] = m
	}
	if _, ok := m[seq]; !ok {
		m[seq] = at
	}
}

func (b *bench) pollTD(table string) {
	now := time.Now()
	recs := b.c.TD.Records(db, table)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range recs {
		if seq, ok := asInt(r["seq"]); ok {
			b.mark("td", seq, now)
		}
	}
}

func (b *bench) pollS3(ctx context.Context, table string) error {
	now := time.Now()
	prefix := layout.TablePrefix(layout.PrefixSealed, db, table)
	p := s3.NewListObjectsV2Paginator(b.s3, &s3.ListObjectsV2Input{Bucket: aws.String(b.c.Outputs.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range pg.Contents {
			k := aws.ToString(o.Key)
			if b.s3keys[k] {
				continue
			}
			obj, err := b.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.c.Outputs.Bucket), Key: aws.String(k)})
			if err != nil {
				return err
			}
			gz, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				return err
			}
			raw, err := tdrecord.Gunzip(gz, tdtest.DefaultLimits(), nil)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			recs, err := tdrecord.Decode(raw, tdtest.DefaultLimits())
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			var seqs []int64
			for _, r := range recs {
				if seq, ok := asInt(r["seq"]); ok {
					seqs = append(seqs, seq)
				}
			}
			b.mu.Lock()
			for _, seq := range seqs {
				b.mark("s3", seq, now)
			}
			if o, err := layout.ParseSealedKey(k); err == nil {
				b.seals.object(o, seqs) // the lake's seals name their sealed objects
			}
			b.s3keys[k] = true
			b.mu.Unlock()
		}
	}
	return nil
}

// pollLake reads table's seal ids from the lake and marks the events of
// the seals whose sealed objects pollS3 has read (the others when it has).
func (b *bench) pollLake(ctx context.Context, table string) error {
	seals, err := b.lake.Seals(ctx, db, table)
	if err != nil {
		return err
	}
	now := time.Now()
	ids := make([]string, len(seals))
	for i, s := range seals {
		ids[i] = s.ID
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seals.saw(ids, now)
	return b.seals.resolve(func(seq int64, at time.Time) { b.mark("lake", seq, at) })
}

func (b *bench) pollCatalog(ctx context.Context) error {
	n, err := b.c.CatalogCount(ctx, db, b.tables[0])
	if err != nil {
		return err
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	// Rank acknowledged events by ack time; the first n are counted.
	order := b.ackOrder()
	for i := 0; i < int(n) && i < len(order); i++ {
		b.mark("catalog", order[i], now)
	}
	return nil
}

// ackOrder returns the acknowledged sequence numbers by ack time.
func (b *bench) ackOrder() []int64 {
	var seqs []int64
	for s, t := range b.acks {
		if !t.IsZero() {
			seqs = append(seqs, int64(s))
		}
	}
	sort.SliceStable(seqs, func(i, j int) bool { return b.acks[seqs[i]].Before(b.acks[seqs[j]]) })
	return seqs
}

func (b *bench) complete() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	acked := len(b.ackOrder())
	for _, s := range b.sinks() {
		if len(b.seen[s]) < acked {
			return false
		}
	}
	return true
}

func (b *bench) report(out io.Writer, setting string, sent time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	acked := b.ackOrder()
	fmt.Fprintf(out, "\nsetting %s: %d events acknowledged in %s (%.1f events/s), %d requests failed\n",
		setting, len(acked), sent.Round(time.Second), float64(len(acked))/sent.Seconds(), b.errs)
	fmt.Fprintf(out, "| sink | visible | missing | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range b.sinks() {
		var lat []time.Duration
		for _, seq := range acked {
			if at, ok := b.seen[s][seq]; ok {
				lat = append(lat, max(0, at.Sub(b.acks[seq])))
			}
		}
		slices.Sort(lat)
		fmt.Fprintf(out, "| %s | %d | %d | %s | %s | %s | %s |\n", s, len(lat), len(acked)-len(lat), q(lat, 0.50), q(lat, 0.95), q(lat, 0.99), q(lat, 1))
	}
	// The AWS calls the whole run made (the benchmark's own polling
	// included: its S3 List/Get, catalog GetItem and lake Glue GetTable
	// and metadata.json GET), per 1,000 events.
	if len(acked) == 0 {
		return
	}
	fmt.Fprintf(out, "\nAWS calls through the edge per 1,000 acknowledged events (polling included):\n| service | operation | calls | request KiB | response KiB |\n|---|---|---:|---:|---:|\n")
	per := 1000 / float64(len(acked))
	for _, c := range b.c.Edge.Calls() {
		fmt.Fprintf(out, "| %s | %s | %.1f | %.1f | %.1f |\n", c.Service, c.Operation, float64(c.Requests)*per, float64(c.RequestBytes)*per/1024, float64(c.ResponseBytes)*per/1024)
	}
}

// sinks names the sinks measured: the catalog with one table only (it
// holds counts: ranks need one table), the lake when it is polled.
func (b *bench) sinks() []string {
	var out []string
	if len(b.tables) == 1 {
		out = append(out, "catalog")
	}
	out = append(out, "s3", "td")
	if b.lake != nil {
		out = append(out, "lake")
	}
	return out
}

func q(s []time.Duration, p float64) string {
	if len(s) == 0 {
		return "-"
	}
	i := int(float64(len(s)-1) * p)
	return fmt.Sprintf("%.1fs", s[i].Seconds())
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case uint64:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}
