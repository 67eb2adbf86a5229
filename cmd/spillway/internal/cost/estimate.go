package cost

import (
	"math"
	"sort"

	"github.com/spillwayhq/spillway/local/costrun"
)

// Units.
const (
	// GB and TB are AWS's billing units (2^30 and 2^40 bytes).
	GB = 1 << 30
	TB = 1 << 40
	// HoursPerMonth is AWS's month (730 hours).
	HoursPerMonth = 730.0
	// DaysPerMonth follows from it.
	DaysPerMonth = HoursPerMonth / 24
)

// Knobs change the measured pipeline the way a user's settings would; the
// zero value is the measured, deployed pipeline.
type Knobs struct {
	// RecordFactor multiplies the events per Kinesis record (the forwarder's
	// chunk size and flush interval set it): everything counted per request
	// or per part (API requests, ingest and fanout invocations, DynamoDB
	// units, S3 requests of staging, Kinesis records) scales by its inverse.
	// 0 or 1: as measured.
	RecordFactor float64
	// FlushRunsPerMonth replaces the deployed schedule's runs; 0: deployed.
	FlushRunsPerMonth float64
	// SealedObjectBytes is the compaction target: sealed objects of this
	// size; 0: as measured.
	SealedObjectBytes float64
	// KinesisMode is ON_DEMAND or PROVISIONED; "": deployed.
	KinesisMode string
	// MemoryMB sets every function's memory; the modelled durations'
	// CPU time stretches below a whole vCPU, the rest stays; 0: deployed.
	MemoryMB int
	// MeasuredDuration prices Lambda at the durations measured on the
	// local cloud (moto's latency included: the upper bound) instead of
	// the modelled ones.
	MeasuredDuration bool
	// SealAfterSeconds replaces the deployed SealAfter in the sealing
	// cadence's cap (see Sealing); 0: deployed.
	SealAfterSeconds float64
	// PerByteSealing scales every flush call with bytes, as if each seal
	// covered as few bytes as in the measured window (the upper bound the
	// model gave before pricing sealing by its cadence).
	PerByteSealing bool
}

// Options are the comparison's settings.
type Options struct {
	// FirehoseParquet adds Firehose's format conversion (a queryable lake).
	FirehoseParquet bool
	// FirehosePartitioning adds dynamic partitioning (db/table/dt/hour).
	FirehosePartitioning bool
	// FirehoseBufferBytes and FirehoseBufferSeconds are the S3 buffering
	// hints (default 128 MiB, 900 s: the maxima, fewest objects).
	FirehoseBufferBytes   float64
	FirehoseBufferSeconds float64
	// AggregatorCPUSecondsPerGB is a td-agent aggregator's CPU per GB of
	// logs (default 45: Fluent Bit measured 42.3-47.4 in BENCHMARKS.md;
	// Fluentd needs more, so this favours the fleet).
	AggregatorCPUSecondsPerGB float64
	// AggregatorUtilisation is the CPU share an instance is sized to
	// (default 0.5); AggregatorMinInstances the fleet's floor (default 2, HA).
	AggregatorUtilisation  float64
	AggregatorMinInstances int
	// AggregatorEBSGB is each instance's buffer volume (default 100 GB).
	AggregatorEBSGB float64
}

// DefaultOptions prices the full job: Parquet and partitioning on.
func DefaultOptions() Options {
	return Options{FirehoseParquet: true, FirehosePartitioning: true, FirehoseBufferBytes: 128 << 20, FirehoseBufferSeconds: 900,
		AggregatorCPUSecondsPerGB: 45, AggregatorUtilisation: 0.5, AggregatorMinInstances: 2, AggregatorEBSGB: 100}
}

// Line is one priced item of a month.
type Line struct {
	Service string `json:"service"`
	Item    string `json:"item"`
	// Units are the month's billed units (in the price's unit).
	Units float64 `json:"units"`
	// USD is the month's cost; PerTB that over the month's raw TB.
	USD   float64 `json:"usd_per_month"`
	PerTB float64 `json:"usd_per_tb"`
	// Fixed marks costs that do not grow with volume (amortised).
	Fixed bool `json:"fixed,omitempty"`
}

// Estimate is one scale's monthly cost of the three ways.
type Estimate struct {
	DailyBytes       float64 `json:"daily_bytes"`
	MonthlyTB        float64 `json:"monthly_tb"`
	Spillway         []Line  `json:"spillway"`
	SpillwayPerTB    float64 `json:"spillway_usd_per_tb"`
	Firehose         []Line  `json:"firehose"`
	FirehosePerTB    float64 `json:"firehose_usd_per_tb"`
	TDAgent          []Line  `json:"td_agent"`
	TDAgentPerTB     float64 `json:"td_agent_usd_per_tb"`
	RatioToFirehose  float64 `json:"ratio_to_firehose"`
	AggregatorsSized int     `json:"td_agent_instances"`
	// LambdaGBSeconds is the month's priced duration (modelled);
	// LambdaGBSecondsMeasured the same at the measured durations, and
	// SpillwayPerTBMeasuredDuration Spillway's $/TB with those: the upper
	// bound the emulator's latency sets.
	LambdaGBSeconds               float64 `json:"lambda_gb_seconds"`
	LambdaGBSecondsMeasured       float64 `json:"lambda_gb_seconds_measured"`
	SpillwayPerTBMeasuredDuration float64 `json:"spillway_usd_per_tb_measured_duration"`
	// ProvisionedShards is the shard count priced in provisioned mode.
	ProvisionedShards int `json:"provisioned_shards,omitempty"`
	// Sealing is how flush's sealing was scaled; SpillwayPerTBPerByte and
	// RatioToFirehosePerByte are Spillway's $/TB and ratio with every
	// flush call scaled by bytes instead (Knobs.PerByteSealing: the upper
	// bound a measured window's small seals set).
	Sealing                Sealing `json:"sealing"`
	SpillwayPerTBPerByte   float64 `json:"spillway_usd_per_tb_per_byte_sealing"`
	RatioToFirehosePerByte float64 `json:"ratio_to_firehose_per_byte_sealing"`
}

// Estimator prices one window of a measurement.
type Estimator struct {
	M costrun.Measurement
	// W is the window priced (a window of M).
	W    *costrun.Window
	P    Prices
	L    Latencies
	Opts Options
}

// Estimate prices dailyBytes of raw logs a day for a month with knobs.
func (e Estimator) Estimate(dailyBytes float64, k Knobs) Estimate {
	out := e.estimate(dailyBytes, k)
	if !k.PerByteSealing {
		pb := k
		pb.PerByteSealing = true
		upper := e.estimate(dailyBytes, pb)
		out.SpillwayPerTBPerByte, out.RatioToFirehosePerByte = upper.SpillwayPerTB, upper.RatioToFirehose
	}
	if !k.MeasuredDuration {
		k.MeasuredDuration = true
		upper := e.estimate(dailyBytes, k)
		out.LambdaGBSecondsMeasured, out.SpillwayPerTBMeasuredDuration = upper.LambdaGBSeconds, upper.SpillwayPerTB
	}
	return out
}

func (e Estimator) estimate(dailyBytes float64, k Knobs) Estimate {
	m, w, p := e.M, e.W, e.P
	monthBytes := dailyBytes * DaysPerMonth
	scale := monthBytes / float64(m.RawBytes)
	rf := 1.0
	if k.RecordFactor > 0 {
		rf = 1 / k.RecordFactor
	}
	out := Estimate{DailyBytes: dailyBytes, MonthlyTB: monthBytes / TB}
	var lines []Line
	add := func(service, item, price string, units float64, fixed bool) {
		lines = append(lines, Line{Service: service, Item: item, Units: units, USD: p.monthly(price, units), Fixed: fixed})
	}

	// Work that grows with volume: the replay's usage, scaled; the
	// scheduled flush runs that fired during it are taken out and priced
	// as the fixed schedule below.
	u := w.Replay
	idle := m.IdleFlush
	runs := float64(w.ScheduledRuns)
	modelled := !k.MeasuredDuration
	idleFlush := idle.Functions["flush"]
	idleGBs := e.L.Model("flush", idleFlush, idle.TDRequests, k.MemoryMB).GBSeconds(idleFlush, k.MemoryMB, modelled, true)
	flushRuns := m.Deployment.FlushRunsPerMonth
	if k.FlushRunsPerMonth > 0 {
		flushRuns = k.FlushRunsPerMonth
	}
	sl := e.sealing(monthBytes, scale, flushRuns, k)
	out.Sealing = sl
	lambdaReq, gbs, logBytes := 0.0, 0.0, 0.0
	anyModelled := false
	for _, d := range e.L.durations(u, k.MemoryMB) {
		name, f := d.Function, u.Functions[d.Function]
		anyModelled = anyModelled || (d.Modelled && d.Invocations > 0)
		inv, g := float64(f.Invocations), d.GBSeconds(f, k.MemoryMB, modelled, false)
		invScale, gScale := scale, scale
		if name == "flush" {
			inv = math.Max(0, inv-runs*float64(idleFlush.Invocations))
			g = math.Max(0, g-runs*idleGBs)
			if sl.Split {
				// A flush run seals; its calls' shares scale by their class.
				invScale = sl.SealScale
				gScale = sl.fSealed*sl.SealedScale + sl.fSeal*sl.SealScale + (1-sl.fSealed-sl.fSeal)*scale
			}
		}
		if name == "ingest" || name == "fanout" {
			inv *= rf
		}
		lambdaReq += inv * invScale
		gbs += g * gScale
		logBytes += float64(f.LogBytes) * scale
	}
	lambdaReq += flushRuns * float64(idleFlush.Invocations)
	// Scheduled runs find the function warm: their init is not billed.
	gbs += flushRuns * idleGBs
	logBytes += flushRuns * float64(idleFlush.LogBytes)
	out.LambdaGBSeconds = gbs

	add("API Gateway", "HTTP API requests", APIRequest, float64(u.APIMeteredRequests)*scale*rf, false)
	add("Lambda", "requests", LambdaRequest, lambdaReq, false)
	durationItem := "duration (arm64 GB-s, modelled)"
	switch {
	case k.MeasuredDuration:
		durationItem = "duration (arm64 GB-s, measured on moto)"
	case !anyModelled:
		durationItem = "duration (arm64 GB-s, measured: no per-function calls)"
	}
	add("Lambda", durationItem, LambdaGBSecond, gbs, false)

	mode := m.Deployment.KinesisMode
	if k.KinesisMode != "" {
		mode = k.KinesisMode
	}
	if mode == "PROVISIONED" {
		shards := provisionedShards(float64(u.KinesisWrittenKB)*1024*scale, float64(u.KinesisRecords)*scale*rf)
		out.ProvisionedShards = shards
		add("Kinesis", "shard-hours (provisioned)", KinesisShardHour, float64(shards)*HoursPerMonth, true)
		add("Kinesis", "PUT payload units", KinesisPayloadUnit, float64(u.KinesisPayloadUnits)*scale, false)
	} else {
		add("Kinesis", "stream-hours (on-demand)", KinesisStreamHour, HoursPerMonth, true)
		add("Kinesis", "data in (GB)", KinesisGBIn, float64(u.KinesisWrittenKB)*1024*scale/GB, false)
		add("Kinesis", "data out (GB)", KinesisGBOut, float64(u.KinesisReadBytes)*scale/GB, false)
	}

	// Each unit: the window's calls less the scheduled runs' and flush's
	// per-sealed-object and per-seal calls, per byte; those two by their
	// own scale (see Sealing); the schedule's runs as a fixed cost.
	scaled := func(total, idleUnits float64, of func(classUsage) float64, perByte float64) float64 {
		rest := math.Max(0, total-runs*idleUnits-of(sl.sealed)-of(sl.seal))
		return rest*perByte + of(sl.sealed)*sl.SealedScale + of(sl.seal)*sl.SealScale + flushRuns*idleUnits
	}
	add("DynamoDB", "write request units", DynamoDBWriteUnit,
		scaled(u.DynamoDBWriteUnits, idle.DynamoDBWriteUnits, func(c classUsage) float64 { return c.WriteUnits }, scale*rf), false)
	add("DynamoDB", "read request units", DynamoDBReadUnit,
		scaled(u.DynamoDBReadUnits, idle.DynamoDBReadUnits, func(c classUsage) float64 { return c.ReadUnits }, scale*rf), false)
	// Staging's S3 requests are per fanout batch (staged objects: one per
	// transaction and hour); sealed objects are one PUT each.
	add("S3", "PUT/COPY/POST/LIST requests", S3Tier1,
		scaled(float64(u.S3Tier1), float64(idle.S3Tier1), func(c classUsage) float64 { return c.S3Tier1 }, scale*rf), false)
	add("S3", "GET and other requests", S3Tier2,
		scaled(float64(u.S3Tier2), float64(idle.S3Tier2), func(c classUsage) float64 { return c.S3Tier2 }, scale*rf), false)
	if u.GlueRequests > 0 || idle.GlueRequests > 0 {
		add("Glue", "Data Catalog requests", GlueRequest,
			scaled(float64(u.GlueRequests), float64(idle.GlueRequests), func(c classUsage) float64 { return c.Glue }, scale), false)
	}
	add("CloudWatch", "Lambda logs (GB)", LogsGB, logBytes/GB, false)
	add("CloudWatch", "alarms", AlarmMonth, float64(m.Deployment.Alarms), true)
	add("CloudWatch", "dashboards", DashboardMonth, float64(m.Deployment.Dashboards), true)
	out.Spillway, out.SpillwayPerTB = perTB(lines, out.MonthlyTB)

	lines = nil
	e.firehose(monthBytes, scale, add)
	out.Firehose, out.FirehosePerTB = perTB(lines, out.MonthlyTB)

	lines = nil
	out.AggregatorsSized = e.tdAgent(dailyBytes, monthBytes, add)
	out.TDAgent, out.TDAgentPerTB = perTB(lines, out.MonthlyTB)
	if out.FirehosePerTB > 0 {
		out.RatioToFirehose = out.SpillwayPerTB / out.FirehosePerTB
	}
	return out
}

// firehose prices the same month through Firehose Direct PUT, one event
// per record, each record rounded up to 5 KB.
func (e Estimator) firehose(monthBytes, scale float64, add func(string, string, string, float64, bool)) {
	billedGB := float64(e.M.FirehoseRecordBytes) * scale / GB
	add("Firehose", "Direct PUT ingestion (GB, 5 KB records)", FirehoseGB, billedGB, false)
	if e.Opts.FirehoseParquet {
		add("Firehose", "format conversion to Parquet (GB)", FirehoseConversionGB, billedGB, false)
	}
	objects := math.Ceil(monthBytes / e.Opts.FirehoseBufferBytes)
	if e.Opts.FirehosePartitioning {
		add("Firehose", "dynamic partitioning (GB)", FirehosePartitioningGB, monthBytes/GB, false)
		// At least one object per active partition (table) per buffer interval.
		perInterval := float64(max(1, e.W.Tables)) * HoursPerMonth * 3600 / e.Opts.FirehoseBufferSeconds
		objects = math.Max(objects, perInterval)
		add("Firehose", "dynamic partitioning objects", FirehosePartitionObject, objects, false)
	}
	add("S3", "PUT requests of delivered objects", S3Tier1, objects, false)
}

// tdAgent sizes and prices an aggregator fleet on c7g.large instances.
func (e Estimator) tdAgent(dailyBytes, monthBytes float64, add func(string, string, string, float64, bool)) int {
	o := e.Opts
	perInstance := 2 * o.AggregatorUtilisation * 86400 / o.AggregatorCPUSecondsPerGB * GB // bytes/day
	n := max(o.AggregatorMinInstances, int(math.Ceil(dailyBytes/perInstance)))
	add("EC2", "c7g.large aggregators (instance-hours)", EC2Hour, float64(n)*HoursPerMonth, false)
	add("EBS", "gp3 buffer volumes (GB-months)", EBSGBMonth, float64(n)*o.AggregatorEBSGB, false)
	// out_s3: one object per instance per hour at least, else 256 MB chunks.
	objects := math.Max(float64(n)*HoursPerMonth, monthBytes/(256<<20))
	add("S3", "PUT requests (out_s3)", S3Tier1, objects, false)
	return n
}

// provisionedShards sizes a provisioned stream for a month's bytes and
// records at twice the mean rate (peaks): 1 MB/s and 1,000 records/s per shard.
func provisionedShards(monthBytes, monthRecords float64) int {
	secs := HoursPerMonth * 3600
	const peak = 2
	byBytes := math.Ceil(peak * monthBytes / secs / (1 << 20))
	byRecords := math.Ceil(peak * monthRecords / secs / 1000)
	return max(1, int(byBytes), int(byRecords))
}

func perTB(lines []Line, tb float64) ([]Line, float64) {
	total := 0.0
	for i := range lines {
		lines[i].PerTB = lines[i].USD / tb
		total += lines[i].USD
	}
	return lines, total / tb
}

func sortedNames(m map[string]costrun.FunctionUsage) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
