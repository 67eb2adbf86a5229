package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/spillwayhq/spillway/forwarder/parser"
	"github.com/spillwayhq/spillway/internal/tdtest"
	"github.com/spillwayhq/spillway/local/cloud"
	"github.com/spillwayhq/spillway/local/proc"
	"github.com/spillwayhq/spillway/shared/layout"
)

// TDCounter reports how many records the TD endpoint holds in db.table
// (0 when the table does not exist).
type TDCounter func(ctx context.Context, db, table string) (int64, error)

// Target is the running local cloud a replay sends to and reads back from.
type Target struct {
	// Cloud reaches the API front (APIURL, APIKey) and reads the catalog
	// and S3 (AWS, Outputs.Bucket, Outputs.CatalogTable).
	Cloud *cloud.Cloud
	// TD counts the TD endpoint's records.
	TD TDCounter
}

// FromCloud targets a cloud started in this process.
func FromCloud(c *cloud.Cloud) Target {
	return Target{Cloud: c, TD: func(_ context.Context, db, table string) (int64, error) {
		return int64(c.TD.Count(db, table)), nil
	}}
}

// FromEnvFile targets a cloud started by `spillway-local up -state-dir`:
// path is its <state dir>/env (export lines).
func FromEnvFile(ctx context.Context, path string) (Target, error) {
	env, err := readEnvFile(path)
	if err != nil {
		return Target{}, err
	}
	var missing []string
	for _, k := range []string{"AWS_ENDPOINT_URL", "SPILLWAY_API_URL", "SPILLWAY_API_KEY", "SPILLWAY_BUCKET", "SPILLWAY_CATALOG_TABLE", "SPILLWAY_TD_RECEIVER_URL", "SPILLWAY_TD_RECEIVER_KEY"} {
		if env[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Target{}, fmt.Errorf("%s: missing %s", path, strings.Join(missing, ", "))
	}
	cfg, err := cloud.AWSConfig(ctx, env["AWS_ENDPOINT_URL"])
	if err != nil {
		return Target{}, err
	}
	c := &cloud.Cloud{EdgeURL: env["AWS_ENDPOINT_URL"], APIURL: env["SPILLWAY_API_URL"], APIKey: env["SPILLWAY_API_KEY"],
		TDURL: env["SPILLWAY_TD_RECEIVER_URL"], TDAPIKey: env["SPILLWAY_TD_RECEIVER_KEY"], AWS: cfg,
		Outputs: cloud.Outputs{Bucket: env["SPILLWAY_BUCKET"], CatalogTable: env["SPILLWAY_CATALOG_TABLE"]}}
	return Target{Cloud: c, TD: httpTDCounter(c.TDURL, c.TDAPIKey)}, nil
}

// readEnvFile reads `export K="V"` lines as `up` writes them.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read cloud env: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read cloud env %s: %w", path, err)
	}
	return out, nil
}

// httpTDCounter reads a table's count with TD's GET /v3/table/show.
func httpTDCounter(base, key string) TDCounter {
	return func(ctx context.Context, db, table string) (int64, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v3/table/show/"+url.PathEscape(db)+"/"+url.PathEscape(table), nil)
		if err != nil {
			return 0, fmt.Errorf("td show %s.%s: %w", db, table, err)
		}
		req.Header.Set("Authorization", "TD1 "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, fmt.Errorf("td show %s.%s: %w", db, table, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return 0, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("td show %s.%s: %d %s", db, table, resp.StatusCode, body)
		}
		var doc struct {
			Count int64 `json:"count"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return 0, fmt.Errorf("td show %s.%s: %w", db, table, err)
		}
		return doc.Count, nil
	}
}

// Options configures Run.
type Options struct {
	// ForwarderConfig is the user's forwarder.yaml.
	ForwarderConfig string
	// Logs replace the config's tail paths ("GLOB" or "NAME=GLOB"; see
	// ReplayConfig).
	Logs []string
	// WorkDir receives the rewritten config, the forwarder's state and log.
	WorkDir string
	// ForwarderBin is a built spillway-forwarder; empty: Run builds it from
	// RepoRoot.
	ForwarderBin string
	// RepoRoot is the Spillway module root (for the build).
	RepoRoot string
	// PollInterval is the wait between read-backs; default 500ms.
	PollInterval time.Duration
	// Quiet ends the wait for the catalog when it has not changed for this
	// long although it counts fewer records than the forwarder shipped
	// (records quarantined by fanout); default 15s.
	Quiet time.Duration
	// SettleTimeout bounds the wait for the sinks after the forwarder is
	// drained; a replay that does not settle by then is reported as failed;
	// default 5m.
	SettleTimeout time.Duration
	// Logger receives progress; default: discarded.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.PollInterval == 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.Quiet == 0 {
		o.Quiet = 15 * time.Second
	}
	if o.SettleTimeout == 0 {
		o.SettleTimeout = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// baseline is what the cloud held before the replay.
type baseline struct {
	catalog map[string]int64
	td      map[string]int64
	keys    map[string]bool // every key under data/, quarantine/, failed/
}

// Run replays the forwarder config over the logs into t: it starts the
// forwarder from the head of every file, drains it, waits until the
// catalog counts what it shipped, flushes on demand (POST /v1/flush) and
// waits until every table's sealed objects and TD endpoint hold the
// catalog's count. It returns what landed (only what this replay added)
// and how long the replay took. It fails only when the replay cannot run;
// sinks that do not settle are reported in Observation.NotSettled.
func Run(ctx context.Context, t Target, o Options) (Observation, time.Duration, error) {
	o.defaults()
	log := o.Logger
	if err := os.MkdirAll(o.WorkDir, 0o700); err != nil {
		return Observation{}, 0, fmt.Errorf("replay work dir: %w", err)
	}
	data, err := os.ReadFile(o.ForwarderConfig)
	if err != nil {
		return Observation{}, 0, fmt.Errorf("read forwarder config: %w", err)
	}
	ports, err := proc.FreePorts("127.0.0.1", 1)
	if err != nil {
		return Observation{}, 0, fmt.Errorf("monitor port: %w", err)
	}
	monitorAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	baseDir, err := filepath.Abs(filepath.Dir(o.ForwarderConfig))
	if err != nil {
		return Observation{}, 0, fmt.Errorf("forwarder config dir: %w", err)
	}
	cfgData, cfg, err := ReplayConfig(data, baseDir, o.Logs, o.WorkDir, t.Cloud.APIURL, monitorAddr)
	if err != nil {
		return Observation{}, 0, err
	}
	if len(cfg.Sources.Tail) == 0 {
		return Observation{}, 0, errors.New("forwarder config: no tail source to replay")
	}
	nfiles := countFiles(cfg)
	if nfiles == 0 {
		return Observation{}, 0, errors.New("forwarder config: the tail paths match no file (give -logs GLOB)")
	}
	cfgPath := filepath.Join(o.WorkDir, "forwarder.yaml")
	if err := os.WriteFile(cfgPath, cfgData, 0o600); err != nil {
		return Observation{}, 0, fmt.Errorf("write replay config: %w", err)
	}
	bin := o.ForwarderBin
	if bin == "" {
		buildLog, err := os.Create(filepath.Join(o.WorkDir, "forwarder-build.log"))
		if err != nil {
			return Observation{}, 0, fmt.Errorf("build log: %w", err)
		}
		bin, err = BuildForwarder(ctx, o.RepoRoot, o.WorkDir, buildLog)
		_ = buildLog.Close()
		if err != nil {
			return Observation{}, 0, err
		}
	}
	base, err := takeBaseline(ctx, t)
	if err != nil {
		return Observation{}, 0, err
	}

	t0 := time.Now()
	log.Info("replay: forwarder started", "config", cfgPath, "files", nfiles)
	fwd, err := startForwarder(bin, cfgPath, o.WorkDir, t.Cloud.APIKey, monitorAddr, cfg.Log.File)
	if err != nil {
		return Observation{}, 0, err
	}
	defer fwd.proc.Stop(10 * time.Second)
	stats, err := fwd.drain(ctx, nfiles, o.PollInterval)
	if err != nil {
		return Observation{}, time.Since(t0), err
	}
	log.Info("replay: forwarder drained", "lines", stats.Lines, "shipped", stats.Shipped, "parked", stats.Parked, "elapsed", time.Since(t0))

	obs := Observation{Tables: map[string]*TableObservation{}, Forwarder: stats}
	sctx, cancel := context.WithTimeout(ctx, o.SettleTimeout)
	defer cancel()
	s := &settler{t: t, base: base, o: o, t0: t0, obs: &obs, records: map[string][]tdtest.Record{}}
	if err := s.waitCatalog(sctx, int64(stats.Shipped)); err != nil {
		obs.NotSettled = err.Error()
	} else if err := s.waitSinks(sctx); err != nil {
		obs.NotSettled = err.Error()
	}
	if ctx.Err() != nil {
		return obs, time.Since(t0), fmt.Errorf("replay: %w", ctx.Err())
	}
	if err := s.finish(ctx); err != nil {
		return obs, time.Since(t0), err
	}
	return obs, time.Since(t0), nil
}

func takeBaseline(ctx context.Context, t Target) (baseline, error) {
	b := baseline{catalog: map[string]int64{}, td: map[string]int64{}, keys: map[string]bool{}}
	entries, err := t.Cloud.Catalog(ctx)
	if err != nil {
		return b, fmt.Errorf("baseline: %w", err)
	}
	for _, e := range entries {
		b.catalog[e.DB+"."+e.Table] = e.Count
		n, err := t.TD(ctx, e.DB, e.Table)
		if err != nil {
			return b, fmt.Errorf("baseline: %w", err)
		}
		b.td[e.DB+"."+e.Table] = n
	}
	for _, p := range []string{layout.PrefixSealed, layout.PrefixQuarantine, layout.PrefixFailed} {
		keys, err := listKeys(ctx, t, p)
		if err != nil {
			return b, fmt.Errorf("baseline: %w", err)
		}
		for _, k := range keys {
			b.keys[k] = true
		}
	}
	return b, nil
}

func s3Client(t Target) *s3.Client {
	return s3.NewFromConfig(t.Cloud.AWS, func(o *s3.Options) { o.UsePathStyle = true; o.DisableLogOutputChecksumValidationSkipped = true })
}

func listKeys(ctx context.Context, t Target, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(s3Client(t), &s3.ListObjectsV2Input{Bucket: aws.String(t.Cloud.Outputs.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", t.Cloud.Outputs.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	sort.Strings(out)
	return out, nil
}

// settler waits for the sinks and collects what landed.
type settler struct {
	t       Target
	base    baseline
	o       Options
	t0      time.Time
	obs     *Observation
	records map[string][]tdtest.Record // decoded new sealed objects by key
}

// catalogDeltas updates obs.Tables from the catalog and returns the total.
func (s *settler) catalogDeltas(ctx context.Context) (int64, error) {
	entries, err := s.t.Cloud.Catalog(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, e := range entries {
		name := e.DB + "." + e.Table
		d := e.Count - s.base.catalog[name]
		if d <= 0 {
			continue
		}
		tab := s.obs.Tables[name]
		if tab == nil {
			tab = &TableObservation{DB: e.DB, Table: e.Table}
			s.obs.Tables[name] = tab
		}
		tab.Catalog = d
		total += d
	}
	return total, nil
}

// waitCatalog waits until the catalog counts shipped new records, or has
// not changed for Quiet (records that fanout quarantined never count).
func (s *settler) waitCatalog(ctx context.Context, shipped int64) error {
	last, lastChange := int64(-1), time.Now()
	return cloud.WaitFor(ctx, s.o.PollInterval, "catalog to count the shipped records", func(ctx context.Context) (bool, error) {
		n, err := s.catalogDeltas(ctx)
		if err != nil {
			return false, err
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		return n >= shipped || time.Since(lastChange) >= s.o.Quiet, nil
	})
}

// waitSinks flushes and waits until every table's new sealed records and
// TD records equal its catalog count; it flushes again every 10 polls.
func (s *settler) waitSinks(ctx context.Context) error {
	if err := s.t.Cloud.Flush(ctx); err != nil {
		return err
	}
	polls := 0
	var pending []string
	err := cloud.WaitFor(ctx, s.o.PollInterval, "sealed objects and TD endpoint", func(ctx context.Context) (bool, error) {
		polls++
		if polls%10 == 0 {
			if err := s.t.Cloud.Flush(ctx); err != nil {
				return false, err
			}
		}
		if _, err := s.catalogDeltas(ctx); err != nil {
			return false, err
		}
		pending = pending[:0]
		for _, name := range sortedKeys(s.obs.Tables) {
			tab := s.obs.Tables[name]
			if err := s.readTable(ctx, tab); err != nil {
				return false, err
			}
			if tab.Sealed == tab.Catalog && tab.TD == tab.Catalog {
				if tab.Settled == 0 {
					tab.Settled = time.Since(s.t0)
				}
				continue
			}
			tab.Settled = 0
			pending = append(pending, fmt.Sprintf("%s: catalog %d, sealed %d, TD %d", name, tab.Catalog, tab.Sealed, tab.TD))
		}
		return len(pending) == 0, nil
	})
	if err != nil && len(pending) > 0 {
		return fmt.Errorf("sinks did not settle within %s (%s)", s.o.SettleTimeout, strings.Join(pending, "; "))
	}
	return err
}

// readTable decodes the table's new sealed objects (each once) and reads
// its TD count.
func (s *settler) readTable(ctx context.Context, tab *TableObservation) error {
	keys, err := listKeys(ctx, s.t, layout.TablePrefix(layout.PrefixSealed, tab.DB, tab.Table))
	if err != nil {
		return err
	}
	var n int64
	for _, k := range keys {
		if s.base.keys[k] {
			continue
		}
		recs, ok := s.records[k]
		if !ok {
			if recs, err = s.getRecords(ctx, k); err != nil {
				return err
			}
			s.records[k] = recs
		}
		n += int64(len(recs))
	}
	tab.Sealed = n
	td, err := s.t.TD(ctx, tab.DB, tab.Table)
	if err != nil {
		return err
	}
	tab.TD = td - s.base.td[tab.Name()]
	return nil
}

func (s *settler) getRecords(ctx context.Context, key string) ([]tdtest.Record, error) {
	obj, err := s3Client(s.t).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.t.Cloud.Outputs.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer obj.Body.Close()
	recs, err := tdtest.DecodeStream(obj.Body, tdtest.DefaultLimits())
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return recs, nil
}

// finish fills each table's records and statistics and lists the new
// quarantined and failed objects.
func (s *settler) finish(ctx context.Context) error {
	for _, name := range sortedKeys(s.obs.Tables) {
		tab := s.obs.Tables[name]
		if err := s.readTable(ctx, tab); err != nil {
			return err
		}
		keys, err := listKeys(ctx, s.t, layout.TablePrefix(layout.PrefixSealed, tab.DB, tab.Table))
		if err != nil {
			return err
		}
		tab.Records = tab.Records[:0]
		for _, k := range keys {
			if !s.base.keys[k] {
				tab.Records = append(tab.Records, s.records[k]...)
			}
		}
		tab.MinTime, tab.MaxTime, tab.Unmatched = timeRange(tab.Records)
	}
	for _, p := range []struct {
		prefix string
		out    *[]string
	}{{layout.PrefixQuarantine, &s.obs.Quarantine}, {layout.PrefixFailed, &s.obs.Failed}} {
		keys, err := listKeys(ctx, s.t, p.prefix)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if !s.base.keys[k] {
				*p.out = append(*p.out, k)
			}
		}
	}
	return nil
}

// timeRange returns the extreme times of the parsed records (of all
// records when none was parsed) and the number of unmatched lines.
func timeRange(recs []tdtest.Record) (lo, hi, unmatched int64) {
	first := true
	for pass := 0; pass < 2 && first; pass++ {
		unmatched = 0
		for _, r := range recs {
			if _, ok := r[parser.UnmatchedKey]; ok {
				unmatched++
				if pass == 0 {
					continue
				}
			}
			ts, _ := r["time"].(int64)
			if first || ts < lo {
				lo = ts
			}
			if first || ts > hi {
				hi = ts
			}
			first = false
		}
	}
	return lo, hi, unmatched
}
