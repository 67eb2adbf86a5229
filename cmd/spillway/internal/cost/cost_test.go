package cost

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/local/costrun"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestPriceMonthly(t *testing.T) {
	tiered := Price{Per: 1, Tiers: []Tier{{UpTo: 512000, USD: 0.029}, {UpTo: 2048000, USD: 0.025}, {USD: 0.020}}}
	tests := []struct {
		name  string
		p     Price
		units float64
		want  float64
	}{
		{"flat per million", Price{USD: 0.20, Per: 1e6}, 3e6, 0.60},
		{"first tier only", tiered, 1000, 29},
		{"two tiers", tiered, 600000, 512000*0.029 + 88000*0.025},
		{"three tiers", tiered, 3000000, 512000*0.029 + 1536000*0.025 + 952000*0.020},
		{"nothing", tiered, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Monthly(tc.units); !near(got, tc.want) {
				t.Errorf("Monthly(%v) = %v, want %v", tc.units, got, tc.want)
			}
		})
	}
}

func TestLoadPrices(t *testing.T) {
	p, err := LoadPrices("")
	if err != nil {
		t.Fatal(err)
	}
	if p.Region != "us-east-1" || p.Date == "" || !strings.Contains(p.File, DefaultPricesFile) {
		t.Errorf("embedded prices: %+v", p)
	}
	for name, pr := range p.Prices {
		if !strings.HasPrefix(pr.Source, "https://aws.amazon.com/") {
			t.Errorf("%s: source %q is not an AWS pricing page", name, pr.Source)
		}
	}
	dir := t.TempDir()
	write := func(name string, v any) string {
		b, _ := json.Marshal(v)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	missing := p
	missing.Prices = map[string]Price{FirehoseGB: p.Prices[FirehoseGB]}
	tests := []struct {
		name, path, wantErr string
	}{
		{"missing prices", write("missing.json", missing), "prices." + LambdaRequest + ": missing"},
		{"unknown key", write("unknown.json", map[string]any{"region": "x", "date": "y", "prices": map[string]any{}, "surprise": 1}), "unknown field"},
		{"no source", write("nosource.json", map[string]any{"region": "x", "date": "y", "prices": map[string]any{"a": map[string]any{"usd": 1, "per": 1}}}), "prices.a.source: required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadPrices(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("LoadPrices: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

// sample is a small measurement: 1,000 lines of 200 bytes (201 with the
// newline), one table.
func sample() costrun.Measurement {
	live := costrun.Window{
		Name: costrun.WindowLive, Events: 1000, Tables: 1,
		Replay: costrun.Usage{
			APIRequests: 4, APIMeteredRequests: 4,
			Functions: map[string]costrun.FunctionUsage{
				"ingest": {MemoryMB: 512, Invocations: 4, BilledMs: 400},
				"fanout": {MemoryMB: 512, Invocations: 2, BilledMs: 1000},
				"flush":  {MemoryMB: 512, Invocations: 3, BilledMs: 900, LogBytes: 3000},
			},
			KinesisRecords: 4, KinesisPayloadUnits: 8, KinesisWrittenKB: 200, KinesisReadBytes: 200 * 1024,
			DynamoDBReadUnits: 10, DynamoDBWriteUnits: 40, S3Tier1: 12, S3Tier2: 6,
		},
		ScheduledRuns: 1, SealedObjects: 2, SealedBytes: 40000, SealedPartitions: 1,
	}
	backfill := live
	backfill.Name, backfill.SealedObjects, backfill.SealedPartitions = costrun.WindowBackfill, 20, 10
	return costrun.Measurement{
		Version: costrun.MeasurementVersion, Corpus: "sample", Lines: 1000, RawBytes: 201000, FirehoseRecordBytes: 1000 * 5120,
		IdleFlush: costrun.Usage{Functions: map[string]costrun.FunctionUsage{"flush": {MemoryMB: 512, Invocations: 1, BilledMs: 100, LogBytes: 1000}},
			DynamoDBReadUnits: 1, S3Tier1: 1},
		Deployment: costrun.Deployment{KinesisMode: "ON_DEMAND", Shards: 4, FlushSchedule: "rate(1 minute)", FlushRunsPerMonth: HoursPerMonth * 60, Alarms: 10, Dashboards: 1},
		Live:       &live, Backfill: &backfill,
	}
}

// estimator prices m's live window with the embedded prices and latencies.
func estimator(t *testing.T, m costrun.Measurement, o Options) Estimator {
	t.Helper()
	return Estimator{M: m, W: m.Live, P: mustPrices(t), L: mustLatencies(t), Opts: o}
}

func mustLatencies(t *testing.T) Latencies {
	t.Helper()
	l, err := LoadLatencies("")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustPrices(t *testing.T) Prices {
	t.Helper()
	p, err := LoadPrices("")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFirehoseByHand checks the Firehose figure against its published
// rules, worked out by hand for 1 TB/day of the sample (200-byte lines,
// one line per record):
//
//	raw per month   = 1 TB x 730/24 days = 30.416667 TB = 31,146.667 GB
//	billed          = every record rounded up to 5 KB: x 5,120/201
//	                = 31,146.667 x 25.472637 = 793,387.73 GB
//	ingestion       = 512,000 GB x $0.029 + 281,387.73 GB x $0.025 = 14,848 + 7,034.69 = $21,882.69
//	Parquet         = 793,387.73 GB x $0.018 = $14,280.98
//	partitioning    = 31,146.667 GB x $0.020 = $622.93
//	objects         = 31,146.667 GB / 128 MiB = 249,173.3 -> 249,174 (more than 2,920 = one a 900 s interval)
//	                  x $0.005 / 1,000 = $1.25, and the same again for their S3 PUTs
//	total           = $36,789.10 a month = $1,209.50 per TB
func TestFirehoseByHand(t *testing.T) {
	e := estimator(t, sample(), DefaultOptions())
	got := e.Estimate(TB, Knobs{})
	rawGB := 1024 * 730.0 / 24
	billedGB := rawGB * 5120 / 201
	objects := math.Ceil(rawGB * 1024 / 128)
	want := 512000*0.029 + (billedGB-512000)*0.025 + billedGB*0.018 + rawGB*0.020 + objects*0.005/1000*2
	if !near(got.FirehosePerTB*got.MonthlyTB, want) {
		t.Errorf("Firehose a month = %.2f, want %.2f", got.FirehosePerTB*got.MonthlyTB, want)
	}
	if math.Abs(want-36789.10) > 0.01 || math.Abs(want/(730.0/24)-1209.50) > 0.01 {
		t.Errorf("the hand arithmetic in the comment is off: %.2f a month, %.2f per TB", want, want/(730.0/24))
	}
	direct := estimator(t, sample(), Options{FirehoseBufferBytes: 128 << 20, FirehoseBufferSeconds: 900,
		AggregatorCPUSecondsPerGB: 45, AggregatorUtilisation: 0.5, AggregatorMinInstances: 2}).Estimate(TB, Knobs{})
	wantDirect := 512000*0.029 + (billedGB-512000)*0.025 + objects*0.005/1000
	if !near(direct.FirehosePerTB*direct.MonthlyTB, wantDirect) {
		t.Errorf("Firehose Direct PUT alone a month = %.2f, want %.2f", direct.FirehosePerTB*direct.MonthlyTB, wantDirect)
	}
}

// TestSpillwayScaling: variable costs grow with volume and fixed ones do
// not; the knobs move what they should.
func TestSpillwayScaling(t *testing.T) {
	e := estimator(t, sample(), DefaultOptions())
	line := func(est Estimate, item string) Line {
		for _, l := range est.Spillway {
			if l.Item == item || (strings.HasSuffix(item, "GB-s") && strings.HasPrefix(l.Item, item)) {
				return l
			}
		}
		t.Fatalf("no line %q in %+v", item, est.Spillway)
		return Line{}
	}
	one, two := e.Estimate(GB, Knobs{}), e.Estimate(2*GB, Knobs{})
	scale := GB * DaysPerMonth / 201000
	tests := []struct {
		name  string
		got   float64
		want  float64
		knobs Knobs
	}{
		{"API requests scale with bytes", line(one, "HTTP API requests").Units, 4 * scale, Knobs{}},
		{"stream-hours are fixed", line(two, "stream-hours (on-demand)").Units, HoursPerMonth, Knobs{}},
		{"alarms are fixed", line(two, "alarms").Units, 10, Knobs{}},
		{"Kinesis data in (GB)", line(one, "data in (GB)").Units, 200 * 1024 * scale / GB, Knobs{}},
		// flush: 3 invocations less the 1 scheduled run, scaled, plus the schedule's 43,800 runs.
		{"Lambda requests", line(one, "requests").Units, (4+2+2)*scale + 43800, Knobs{}},
		{"Lambda GB-s", line(one, "duration (arm64 GB-s").Units, (0.4+1+0.8)*0.5*scale + 43800*0.1*0.5, Knobs{}},
		{"WRU", line(one, "write request units").Units, 40 * scale, Knobs{}},
		{"RRU: the schedule's reads are fixed", line(one, "read request units").Units, 9*scale + 43800, Knobs{}},
		{"S3 tier 1: sealed objects, staging, the schedule's lists", line(one, "PUT/COPY/POST/LIST requests").Units, 2*scale + 9*scale + 43800, Knobs{}},
		{"ten times the events per record: a tenth of the requests", line(e.Estimate(GB, Knobs{RecordFactor: 10}), "HTTP API requests").Units, 0.4 * scale, Knobs{}},
		{"compaction to 20,000-byte objects", line(e.Estimate(GB, Knobs{SealedObjectBytes: 20000}), "PUT/COPY/POST/LIST requests").Units, 2*scale + 9*scale + 43800, Knobs{}},
		{"flush every 15 minutes", line(e.Estimate(GB, Knobs{FlushRunsPerMonth: 2920}), "read request units").Units, 9*scale + 2920, Knobs{}},
		{"1,024 MB doubles GB-s", line(e.Estimate(GB, Knobs{MemoryMB: 1024}), "duration (arm64 GB-s").Units, 2 * ((0.4+1+0.8)*0.5*scale + 43800*0.1*0.5), Knobs{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !near(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	prov := e.Estimate(50*TB, Knobs{KinesisMode: "PROVISIONED"})
	// 50 TB/day written as 200 KB per 201,000 raw bytes: 52.2 TB/day in Kinesis, 2x peak.
	wantShards := int(math.Ceil(2 * 50 * float64(TB) * 200 * 1024 / 201000 / 86400 / (1 << 20))) // 1,236.6 -> 1,237
	if prov.ProvisionedShards != wantShards {
		t.Errorf("provisioned shards %d, want %d", prov.ProvisionedShards, wantShards)
	}
}

func TestTDAgentSizing(t *testing.T) {
	e := estimator(t, sample(), DefaultOptions())
	tests := []struct {
		daily float64
		want  int
	}{
		{10 * GB, 2},  // the HA floor
		{TB, 2},       // 1,024 GB / 1,920 GB a day each
		{50 * TB, 27}, // 51,200 / 1,920 = 26.7
	}
	for _, tc := range tests {
		if got := e.Estimate(tc.daily, Knobs{}).AggregatorsSized; got != tc.want {
			t.Errorf("%.0f GB/day: %d instances, want %d", tc.daily/GB, got, tc.want)
		}
	}
}

func TestReport(t *testing.T) {
	r := NewReport(sample(), mustPrices(t), mustLatencies(t), DefaultOptions(), DefaultScales())
	// 40,000 sealed bytes per 201,000 raw: 203.8 GB per raw TB at $0.023.
	if want := 40000.0 / 201000 * 1024 * 0.023; !near(r.StoragePerTBMonth, want) {
		t.Errorf("storage per raw TB-month %v, want %v", r.StoragePerTBMonth, want)
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	type scales []struct {
		Name     string  `json:"name"`
		Spillway float64 `json:"spillway_usd_per_tb"`
		Firehose float64 `json:"firehose_usd_per_tb"`
		Ratio    float64 `json:"ratio_to_firehose"`
		Upper    float64 `json:"spillway_usd_per_tb_measured_duration"`
	}
	var doc struct {
		Window   string `json:"window"`
		Scales   scales `json:"scales"`
		Backfill struct {
			Window string `json:"window"`
			Scales scales `json:"scales"`
		} `json:"backfill"`
		Sensitivity []SensitivityRow `json:"sensitivity"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Window != "live" || doc.Backfill.Window != "backfill" || len(doc.Scales) != 3 || len(doc.Backfill.Scales) != 3 || len(doc.Sensitivity) == 0 {
		t.Fatalf("report %s", js.String())
	}
	for i, s := range doc.Scales {
		if s.Spillway <= 0 || s.Firehose <= 0 || !near(s.Ratio, s.Spillway/s.Firehose) || s.Upper < s.Spillway {
			t.Errorf("scale %+v", s)
		}
		// The backfill seals ten times the objects: it costs more.
		if b := doc.Backfill.Scales[i]; b.Spillway <= s.Spillway {
			t.Errorf("backfill %+v, live %+v: want the backfill dearer", b, s)
		}
	}
	var tab bytes.Buffer
	if err := r.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"== 10 GB/day", "== 50 TB/day", "Spillway $/TB / Firehose $/TB", "events per Kinesis record", "PROVISIONED",
		"LIVE TRAFFIC", "BACKFILL", "upper bound", "modelled ms"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
}

// TestLambdaDurationByHand checks the modelled duration against the
// embedded latency file, worked out by hand:
//
//	flush, 1,024 MB, 2 invocations billed 4,000 ms on moto, 300 ms of CPU:
//	  CPU at 1,024 MB's vCPU share  300 x 1,769/1,024            =   518.26 ms
//	  DynamoDB UpdateItem           100 x 10 ms                   = 1,000 ms
//	  DynamoDB TransactWriteItems    10 x 30 ms                   =   300 ms
//	  S3 PutObject                   20 x 30 ms                   =   600 ms
//	  TD imports                      4 x 100 ms                  =   400 ms
//	  rounding                        2 x 0.5 ms                  =     1 ms
//	  modelled                                                     = 2,819.26 ms (< 4,000 measured)
//	  GB-s                          2.81926 s x 1 GB (+ 20 ms init) = 2.83926
//	ingest, 512 MB, 10 invocations billed 300 ms, 100 ms of CPU, 10 PutRecords:
//	  100 x 1,769/512 + 10 x 30 + 10 x 0.5 = 650.47 ms > 300 ms: capped at 300 ms
//	ingest priced at 256 MB: 100 x 1,769/256 + 10 x 30 + 5 = 996.02 ms, above the cap of
//	  300 ms measured + 100 ms of CPU x (1,769/256 - 1,769/512) = 645.51 ms: capped at 645.51 ms
//	fanout without per-function calls (a shared access key): measured, 1,000 ms
func TestLambdaDurationByHand(t *testing.T) {
	l := mustLatencies(t)
	flush := costrun.FunctionUsage{MemoryMB: 1024, Invocations: 2, BilledMs: 4000, InitMs: 20, CPUMs: 300, Calls: []costrun.Call{
		{Service: "dynamodb", Operation: "UpdateItem", Requests: 100},
		{Service: "dynamodb", Operation: "TransactWriteItems", Requests: 10},
		{Service: "s3", Operation: "PutObject", Requests: 20},
	}}
	ingest := costrun.FunctionUsage{MemoryMB: 512, Invocations: 10, BilledMs: 300, CPUMs: 100, Calls: []costrun.Call{{Service: "kinesis", Operation: "PutRecords", Requests: 10}}}
	fanout := costrun.FunctionUsage{MemoryMB: 1024, Invocations: 3, BilledMs: 1000, CPUMs: 50}
	tests := []struct {
		name      string
		f         costrun.FunctionUsage
		td        int64
		memoryMB  int
		wantMs    float64
		modelled  bool
		capped    bool
		wantCalls int64
	}{
		{"flush", flush, 4, 0, 2819.26, true, false, 134},
		{"ingest", ingest, 0, 0, 300, true, true, 10},
		{"ingest at 256 MB", ingest, 0, 256, 645.51, true, true, 10},
		{"fanout", fanout, 0, 0, 1000, false, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := l.Model(tc.name, tc.f, tc.td, tc.memoryMB)
			if math.Abs(d.ModelledMs-tc.wantMs) > 0.01 || d.Modelled != tc.modelled || d.Capped != tc.capped || d.Calls != tc.wantCalls {
				t.Errorf("%+v: want %.2f ms, modelled %v, capped %v, %d calls", d, tc.wantMs, tc.modelled, tc.capped, tc.wantCalls)
			}
		})
	}
	d := l.Model("flush", flush, 4, 0)
	if got := d.GBSeconds(flush, 0, true, false); math.Abs(got-2.83926) > 1e-5 {
		t.Errorf("flush modelled GB-s %v, want 2.83926", got)
	}
	if got := d.GBSeconds(flush, 0, false, false); !near(got, 4.02) {
		t.Errorf("flush measured GB-s %v, want 4.02", got)
	}
	// At 1,769 MB and more, CPU time is not stretched.
	if d := l.Model("flush", flush, 4, 2048); math.Abs(d.CPUScaledMs-300) > 1e-9 {
		t.Errorf("CPU at 2,048 MB: %v ms, want 300", d.CPUScaledMs)
	}
}

// TestModelledDurationPriced: the report prices the modelled duration and
// carries the measured one as the upper bound.
func TestModelledDurationPriced(t *testing.T) {
	m := sample()
	live := *m.Live
	live.Replay.Functions = map[string]costrun.FunctionUsage{
		"flush": {MemoryMB: 1024, Invocations: 3, BilledMs: 3000, CPUMs: 30, Calls: []costrun.Call{{Service: "dynamodb", Operation: "GetItem", Requests: 10}}},
	}
	m.Live = &live
	got := estimator(t, m, DefaultOptions()).Estimate(TB, Knobs{})
	if got.LambdaGBSeconds <= 0 || got.LambdaGBSecondsMeasured <= got.LambdaGBSeconds || got.SpillwayPerTBMeasuredDuration <= got.SpillwayPerTB {
		t.Errorf("modelled %v GB-s ($%.2f/TB), measured %v GB-s ($%.2f/TB): want the measured above the modelled",
			got.LambdaGBSeconds, got.SpillwayPerTB, got.LambdaGBSecondsMeasured, got.SpillwayPerTBMeasuredDuration)
	}
}

func TestLoadLatencies(t *testing.T) {
	l := mustLatencies(t)
	tests := []struct {
		service, op string
		want        float64
	}{
		{"dynamodb", "GetItem", 10}, {"dynamodb", "TransactWriteItems", 30}, {"s3", "PutObject", 30}, {"td", "import", 100}, {"sqs", "SendMessage", l.Default.Ms},
	}
	for _, tc := range tests {
		if got := l.Of(tc.service, tc.op); got != tc.want {
			t.Errorf("%s.%s: %v ms, want %v", tc.service, tc.op, got, tc.want)
		}
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	bad := []struct{ name, body, wantErr string }{
		{"unknown key", `{"date":"d","surprise":1}`, "unknown field"},
		{"no source", `{"date":"d","full_vcpu_memory_mb":{"mb":1769,"source":"s"},"default":{"ms":1,"source":"s"},"services":{"s3":{"ms":1}}}`, "services.s3.source: required"},
		{"negative", `{"date":"d","full_vcpu_memory_mb":{"mb":1769,"source":"s"},"default":{"ms":-1,"source":"s"}}`, "default.ms"},
		{"no vcpu", `{"date":"d","default":{"ms":1,"source":"s"}}`, "full_vcpu_memory_mb"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadLatencies(write(tc.name+".json", tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("LoadLatencies: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}
