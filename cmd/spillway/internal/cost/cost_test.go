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
	return costrun.Measurement{
		Corpus: "sample", Lines: 1000, Events: 1000, RawBytes: 201000, FirehoseRecordBytes: 1000 * 5120, Tables: 1,
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
		IdleFlush: costrun.Usage{Functions: map[string]costrun.FunctionUsage{"flush": {MemoryMB: 512, Invocations: 1, BilledMs: 100, LogBytes: 1000}},
			DynamoDBReadUnits: 1, S3Tier1: 1},
		ScheduledRuns: 1, SealedObjects: 2, SealedBytes: 40000,
		Deployment: costrun.Deployment{KinesisMode: "ON_DEMAND", Shards: 4, FlushSchedule: "rate(1 minute)", FlushRunsPerMonth: HoursPerMonth * 60, Alarms: 10, Dashboards: 1},
	}
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
	e := Estimator{M: sample(), P: mustPrices(t), Opts: DefaultOptions()}
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
	direct := Estimator{M: sample(), P: mustPrices(t), Opts: Options{FirehoseBufferBytes: 128 << 20, FirehoseBufferSeconds: 900,
		AggregatorCPUSecondsPerGB: 45, AggregatorUtilisation: 0.5, AggregatorMinInstances: 2}}.Estimate(TB, Knobs{})
	wantDirect := 512000*0.029 + (billedGB-512000)*0.025 + objects*0.005/1000
	if !near(direct.FirehosePerTB*direct.MonthlyTB, wantDirect) {
		t.Errorf("Firehose Direct PUT alone a month = %.2f, want %.2f", direct.FirehosePerTB*direct.MonthlyTB, wantDirect)
	}
}

// TestSpillwayScaling: variable costs grow with volume and fixed ones do
// not; the knobs move what they should.
func TestSpillwayScaling(t *testing.T) {
	e := Estimator{M: sample(), P: mustPrices(t), Opts: DefaultOptions()}
	line := func(est Estimate, item string) Line {
		for _, l := range est.Spillway {
			if l.Item == item {
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
		{"Lambda GB-s", line(one, "duration (arm64 GB-s)").Units, (0.4+1+0.8)*0.5*scale + 43800*0.1*0.5, Knobs{}},
		{"WRU", line(one, "write request units").Units, 40 * scale, Knobs{}},
		{"RRU: the schedule's reads are fixed", line(one, "read request units").Units, 9*scale + 43800, Knobs{}},
		{"S3 tier 1: sealed objects, staging, the schedule's lists", line(one, "PUT/COPY/POST/LIST requests").Units, 2*scale + 9*scale + 43800, Knobs{}},
		{"ten times the events per record: a tenth of the requests", line(e.Estimate(GB, Knobs{RecordFactor: 10}), "HTTP API requests").Units, 0.4 * scale, Knobs{}},
		{"compaction to 20,000-byte objects", line(e.Estimate(GB, Knobs{SealedObjectBytes: 20000}), "PUT/COPY/POST/LIST requests").Units, 2*scale + 9*scale + 43800, Knobs{}},
		{"flush every 15 minutes", line(e.Estimate(GB, Knobs{FlushRunsPerMonth: 2920}), "read request units").Units, 9*scale + 2920, Knobs{}},
		{"1,024 MB doubles GB-s", line(e.Estimate(GB, Knobs{MemoryMB: 1024}), "duration (arm64 GB-s)").Units, 2 * ((0.4+1+0.8)*0.5*scale + 43800*0.1*0.5), Knobs{}},
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
	e := Estimator{M: sample(), P: mustPrices(t), Opts: DefaultOptions()}
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
	r := NewReport(sample(), mustPrices(t), DefaultOptions(), DefaultScales())
	// 40,000 sealed bytes per 201,000 raw: 203.8 GB per raw TB at $0.023.
	if want := 40000.0 / 201000 * 1024 * 0.023; !near(r.StoragePerTBMonth, want) {
		t.Errorf("storage per raw TB-month %v, want %v", r.StoragePerTBMonth, want)
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Scales []struct {
			Name     string  `json:"name"`
			Spillway float64 `json:"spillway_usd_per_tb"`
			Firehose float64 `json:"firehose_usd_per_tb"`
			Ratio    float64 `json:"ratio_to_firehose"`
		} `json:"scales"`
		Sensitivity []SensitivityRow `json:"sensitivity"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Scales) != 3 || len(doc.Sensitivity) == 0 {
		t.Fatalf("report %s", js.String())
	}
	for _, s := range doc.Scales {
		if s.Spillway <= 0 || s.Firehose <= 0 || !near(s.Ratio, s.Spillway/s.Firehose) {
			t.Errorf("scale %+v", s)
		}
	}
	var tab bytes.Buffer
	if err := r.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"== 10 GB/day", "== 50 TB/day", "Spillway $/TB / Firehose $/TB", "events per Kinesis record", "PROVISIONED"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
}
