package cost

import (
	"strings"
	"testing"

	"github.com/spillwayhq/spillway/functions/flush"
	"github.com/spillwayhq/spillway/local/costrun"
)

// sealSample is sample() measured with resources: its live window made 2
// seals of one sealed object each, and flush's calls name what they
// addressed: 10 staged-item claims (10 WRU, per staged object), 4
// manifest-item writes (4 WRU), 2 manifest bodies and 4 Glue calls (per
// seal), 2 data/ PUTs (per sealed object); the idle run reads the catalog
// (1 RRU, per seal) and lists staged/ (1 tier-1 request). Deployed: seal
// after 30 s, a sweep every 30 s, 64 MiB sealed objects.
func sealSample() costrun.Measurement {
	m := sample()
	w := *m.Live
	w.Replay.Functions = map[string]costrun.FunctionUsage{
		"ingest": w.Replay.Functions["ingest"], "fanout": w.Replay.Functions["fanout"],
		"flush": {MemoryMB: 512, Invocations: 3, BilledMs: 900, LogBytes: 3000, Calls: []costrun.Call{
			{Service: "dynamodb", Operation: "UpdateItem", Resource: "manifests/staged", Requests: 10, WriteUnits: 10},
			{Service: "dynamodb", Operation: "PutItem", Resource: "manifests/manifest", Requests: 4, WriteUnits: 4},
			{Service: "s3", Operation: "PutObject", Resource: "manifests", S3Class: "tier1", Requests: 2},
			{Service: "s3", Operation: "PutObject", Resource: "data", S3Class: "tier1", Requests: 2},
			{Service: "glue", Operation: "GetTable", Requests: 2},
			{Service: "glue", Operation: "UpdateTable", Requests: 2},
		}},
	}
	w.Replay.GlueRequests = 4
	w.Seals = 2
	w.Calls = []costrun.Call{{Service: "s3", Operation: "PutObject", Resource: "staged", S3Class: "tier1", Requests: 2}}
	m.Live = &w
	idle := m.IdleFlush.Functions["flush"]
	idle.Calls = []costrun.Call{
		{Service: "dynamodb", Operation: "Query", Resource: "catalog", Requests: 1, ReadUnits: 1},
		{Service: "s3", Operation: "ListObjectsV2", Resource: "staged", S3Class: "tier1", Requests: 1},
	}
	m.IdleFlush.Functions = map[string]costrun.FunctionUsage{"flush": idle}
	m.Deployment.SealAfterSeconds, m.Deployment.SweepEverySeconds, m.Deployment.SealTargetBytes = 30, 30, 64<<20
	return m
}

// TestSealingCadence: flush's per-seal calls stop growing with bytes at
// the cadence's cap, its per-staged-object calls keep growing, the seals
// never fall below one per 500 staged objects (a manifest's most) nor the
// sealed objects below one per 64 MiB (the seal target).
// The per-byte rule (the model before) fails the first case.
func TestSealingCadence(t *testing.T) {
	e := estimator(t, sealSample(), DefaultOptions())
	// One table: a fanout-requested seal every 30 s (87,600 a month) plus
	// the schedule's 43,800 runs a month passing twice each (0 s and 30 s
	// of its first 50 s): 175,200 seals a month.
	const capMonth = HoursPerMonth*3600/30 + 43800*2
	scaleOf := func(daily float64) float64 { return daily * DaysPerMonth / 201000 }
	line := func(est Estimate, item string) float64 {
		for _, l := range est.Spillway {
			if l.Item == item {
				return l.Units
			}
		}
		t.Fatalf("no line %q", item)
		return 0
	}
	ten, twenty := e.Estimate(10*GB, Knobs{}), e.Estimate(20*GB, Knobs{})
	huge := e.Estimate(50*TB, Knobs{})
	few := sealSample()
	few.Live.Calls = nil
	unforced := estimator(t, few, DefaultOptions()).Estimate(50*TB, Knobs{})
	tests := []struct {
		name      string
		got, want float64
	}{
		{"the cadence cap", ten.Sealing.CadenceCapPerMonth, capMonth},
		{"seals at 10 GB a day: the cap (the window's rate would give millions)", ten.Sealing.SealsPerMonth, capMonth},
		{"per-seal Glue calls do not grow from 10 to 20 GB a day", line(twenty, "Data Catalog requests"), line(ten, "Data Catalog requests")},
		{"Glue calls at the cap: 2 per seal", line(ten, "Data Catalog requests"), 2 * capMonth},
		{"per-staged WRU grow with bytes, per-seal ones do not",
			line(twenty, "write request units") - line(ten, "write request units"), 36 * scaleOf(10*GB)},
		{"sealed objects: one per seal at the cap (bytes force fewer)", ten.Sealing.SealedPerMonth, capMonth},
		{"RRU: per byte, the schedule's catalog reads fixed", line(ten, "read request units"), 9*scaleOf(10*GB) + 43800},
		{"past the cap the staged objects force the seals: one per 500", huge.Sealing.SealsPerMonth, 2 * scaleOf(50*TB) / 500},
		{"and one sealed object per seal (more than one per 64 MiB)", huge.Sealing.SealedPerMonth, 2 * scaleOf(50*TB) / 500},
		{"without that floor, sealed objects at least one per 64 MiB", unforced.Sealing.SealedPerMonth, 50 * TB * DaysPerMonth / (64 << 20)},
		{"while the seals stay at the cap", unforced.Sealing.SealsPerMonth, capMonth},
		{"seal after 300 s lowers the cap", e.Estimate(10*GB, Knobs{SealAfterSeconds: 300}).Sealing.CadenceCapPerMonth, HoursPerMonth*3600/300 + 43800*2},
		{"the per-byte rule is the upper bound", e.Estimate(10*GB, Knobs{PerByteSealing: true}).Sealing.SealsPerMonth, 2 * scaleOf(10*GB)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !near(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	if !ten.Sealing.Split || huge.Sealing.SealsPerMonth <= huge.Sealing.CadenceCapPerMonth {
		t.Errorf("sealing at 50 TB a day: %+v", huge.Sealing)
	}
	var knobRows []SensitivityRow
	for _, row := range e.Sensitivity(10 * GB) {
		if strings.HasPrefix(row.Knob, "seal_after") {
			knobRows = append(knobRows, row)
		}
	}
	if len(knobRows) != 4 || !knobRows[1].Measured || knobRows[0].SpillwayPerTB <= knobRows[3].SpillwayPerTB {
		t.Errorf("seal_after rows (10, 30 deployed, 120, 300 s; fewer seals cost less): %+v", knobRows)
	}
	if ten.SpillwayPerTBPerByte <= ten.SpillwayPerTB || ten.RatioToFirehosePerByte <= ten.RatioToFirehose {
		t.Errorf("per-byte upper bound %.2f $/TB (%.3f) not above the cadence model's %.2f (%.3f)",
			ten.SpillwayPerTBPerByte, ten.RatioToFirehosePerByte, ten.SpillwayPerTB, ten.RatioToFirehose)
	}
}

// TestSealingNeedsResources: a measurement without resources or seals
// (versions 1 and 2) is priced by the per-byte rule, as before.
func TestSealingNeedsResources(t *testing.T) {
	m := sealSample()
	m.Live.Seals = 0
	e := estimator(t, m, DefaultOptions())
	got, want := e.Estimate(TB, Knobs{}), e.Estimate(TB, Knobs{PerByteSealing: true})
	if got.Sealing.Split || !near(got.SpillwayPerTB, want.SpillwayPerTB) {
		t.Errorf("without seals: split %v, %.4f $/TB, want the per-byte %.4f", got.Sealing.Split, got.SpillwayPerTB, want.SpillwayPerTB)
	}
}

// TestClassOf: which unit each of flush's calls grows with.
func TestClassOf(t *testing.T) {
	tests := []struct {
		call costrun.Call
		want sealClass
	}{
		{costrun.Call{Service: "s3", Operation: "GetObject", Resource: "staged"}, perStaged},
		{costrun.Call{Service: "s3", Operation: "DeleteObjects", Resource: ""}, perStaged},
		{costrun.Call{Service: "s3", Operation: "PutObject", Resource: "data"}, perSealed},
		{costrun.Call{Service: "s3", Operation: "PutObject", Resource: costrun.ResourceLakeData}, perSealed},
		{costrun.Call{Service: "s3", Operation: "PutObject", Resource: costrun.ResourceLakeMetadata}, perSeal},
		{costrun.Call{Service: "s3", Operation: "GetObject", Resource: "manifests"}, perSeal},
		{costrun.Call{Service: "glue", Operation: "UpdateTable"}, perSeal},
		{costrun.Call{Service: "dynamodb", Operation: "UpdateItem", Resource: "manifests/staged"}, perStaged},
		{costrun.Call{Service: "dynamodb", Operation: "UpdateItem", Resource: "manifests/manifest"}, perSeal},
		{costrun.Call{Service: "dynamodb", Operation: "Scan", Resource: "catalog"}, perSeal},
		{costrun.Call{Service: "dynamodb", Operation: "UpdateItem", Resource: "manifests/request"}, perSeal},
		{costrun.Call{Service: "dynamodb", Operation: "UpdateItem", Resource: "manifests/compact"}, perSealed},
		{costrun.Call{Service: "dynamodb", Operation: "BatchWriteItem", Resource: "manifests/compact+manifests/manifest"}, perSealed},
		{costrun.Call{Service: "dynamodb", Operation: "BatchWriteItem", Resource: "manifests/manifest+manifests/staged"}, perStaged},
		{costrun.Call{Service: "dynamodb", Operation: "GetItem", Resource: "ledger"}, perStaged},
		{costrun.Call{Service: "dynamodb", Operation: "GetItem"}, perStaged},
	}
	for _, tc := range tests {
		if got := classOf(tc.call); got != tc.want {
			t.Errorf("classOf(%+v) = %v, want %v", tc.call, got, tc.want)
		}
	}
}

// TestMaxClaimIsFlushs: the model's manifest size is flush's default.
func TestMaxClaimIsFlushs(t *testing.T) {
	if got := flush.DefaultConfig().MaxClaim; got != maxClaim {
		t.Errorf("flush claims %d staged objects a manifest, the cost model assumes %d", got, maxClaim)
	}
}
