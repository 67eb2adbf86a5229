package cost

import (
	"fmt"
	"math"
	"strings"
)

// SensitivityRow is the model's answer for one knob setting.
type SensitivityRow struct {
	Knob            string  `json:"knob"`
	Setting         string  `json:"setting"`
	Measured        bool    `json:"measured,omitempty"`
	SpillwayPerTB   float64 `json:"spillway_usd_per_tb"`
	RatioToFirehose float64 `json:"ratio_to_firehose"`
}

// maxRecordBytes is Kinesis's largest record (1 MiB).
const maxRecordBytes = 1 << 20

// Sensitivity prices dailyBytes with one knob changed at a time: events
// per Kinesis record, flush schedule, compaction target, seal_after (when
// the measurement tells per-seal calls apart), Kinesis capacity mode and
// function memory.
func (e Estimator) Sensitivity(dailyBytes float64) []SensitivityRow {
	m := e.W
	var rows []SensitivityRow
	row := func(knob, setting string, measured bool, k Knobs) {
		est := e.Estimate(dailyBytes, k)
		rows = append(rows, SensitivityRow{Knob: knob, Setting: setting, Measured: measured, SpillwayPerTB: est.SpillwayPerTB, RatioToFirehose: est.RatioToFirehose})
	}
	if recs := m.Replay.KinesisRecords; recs > 0 {
		perRecord := float64(m.Events) / float64(recs)
		recordBytes := float64(m.Replay.KinesisWrittenKB) * 1024 / float64(recs)
		maxFactor := maxRecordBytes / recordBytes
		for _, f := range []float64{0.01, 0.1, 1, 10} {
			if f > maxFactor && f != 1 {
				f = maxFactor
			}
			if f*perRecord < 1 {
				f = 1 / perRecord
			}
			row("events per Kinesis record (forwarder chunk size, flush interval)", fmt.Sprintf("%.0f", f*perRecord), f == 1, Knobs{RecordFactor: f})
		}
	}
	for _, s := range []struct {
		label string
		runs  float64
	}{{"every minute", HoursPerMonth * 60}, {"every 5 minutes", HoursPerMonth * 12}, {"every 15 minutes", HoursPerMonth * 4}} {
		row("flush schedule", s.label, math.Abs(s.runs-e.M.Deployment.FlushRunsPerMonth) < 0.01*s.runs, Knobs{FlushRunsPerMonth: s.runs})
	}
	if m.SealedObjects > 0 {
		avg := float64(m.SealedBytes) / float64(m.SealedObjects)
		row("compaction target (sealed object size)", fmt.Sprintf("%.0f KiB (measured)", avg/1024), true, Knobs{})
		for _, b := range []float64{8 << 20, 64 << 20, 512 << 20} {
			row("compaction target (sealed object size)", fmt.Sprintf("%.0f MiB", b/(1<<20)), false, Knobs{SealedObjectBytes: b})
		}
	}
	if dep := e.M.Deployment.SealAfterSeconds; dep > 0 && e.splitsSealing() {
		const knob = "seal_after (fanout: how old a commit gets before a flush; caps seals per table)"
		for _, secs := range []float64{10, 30, 120, 300} {
			row(knob, fmt.Sprintf("%.0f s", secs), secs == dep, Knobs{SealAfterSeconds: secs})
		}
	}
	for _, mode := range []string{"ON_DEMAND", "PROVISIONED"} {
		row("Kinesis capacity mode", mode, mode == e.M.Deployment.KinesisMode, Knobs{KinesisMode: mode})
	}
	var deployed []string
	for _, name := range sortedNames(m.Replay.Functions) {
		deployed = append(deployed, fmt.Sprintf("%s %d", name, m.Replay.Functions[name].MemoryMB))
	}
	const memKnob = "arm64 function memory (modelled CPU time stretches below 1,769 MB)"
	row(memKnob, "as deployed: "+strings.Join(deployed, ", ")+" MB", true, Knobs{})
	for _, mb := range []int{128, 256, 512, 1024, 1769} {
		row(memKnob, fmt.Sprintf("all %d MB", mb), false, Knobs{MemoryMB: mb})
	}
	return rows
}
