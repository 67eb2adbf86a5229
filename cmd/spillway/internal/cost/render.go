package cost

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spillwayhq/spillway/local/costrun"
)

// Scale is one daily volume the report prices.
type Scale struct {
	Name       string  `json:"name"`
	DailyBytes float64 `json:"-"`
}

// DefaultScales are 10 GB, 1 TB and 50 TB of raw logs a day.
func DefaultScales() []Scale {
	return []Scale{{"10 GB/day", 10 * GB}, {"1 TB/day", TB}, {"50 TB/day", 50 * TB}}
}

// ScaleReport is one scale's estimate.
type ScaleReport struct {
	Scale
	Estimate
}

// Report is what `spillway cost` prints.
type Report struct {
	Prices struct {
		File   string `json:"file"`
		Region string `json:"region"`
		Date   string `json:"date"`
	} `json:"prices"`
	Measurement costrun.Measurement `json:"measurement"`
	Options     Options             `json:"options"`
	Scales      []ScaleReport       `json:"scales"`
	Sensitivity []SensitivityRow    `json:"sensitivity"`
	// SensitivityScale names the scale the sensitivity table is priced at.
	SensitivityScale string `json:"sensitivity_scale"`
	// StoragePerTBMonth is what S3 Standard charges a month to keep what
	// one raw TB becomes in the lake (first tier; not in the $/TB figures).
	StoragePerTBMonth float64 `json:"storage_usd_per_raw_tb_month"`
}

// NewReport prices m at every scale and the knobs at the middle one.
func NewReport(m costrun.Measurement, p Prices, o Options, scales []Scale) Report {
	e := Estimator{M: m, P: p, Opts: o}
	var r Report
	r.Prices.File, r.Prices.Region, r.Prices.Date = p.File, p.Region, p.Date
	r.Measurement, r.Options = m, o
	if m.RawBytes > 0 {
		gb := float64(m.SealedBytes) / float64(m.RawBytes) * TB / GB
		r.StoragePerTBMonth = gb * p.Prices[S3StorageGBMonth].USD / p.Prices[S3StorageGBMonth].Per
	}
	for _, s := range scales {
		r.Scales = append(r.Scales, ScaleReport{Scale: s, Estimate: e.Estimate(s.DailyBytes, Knobs{})})
	}
	if len(scales) > 0 {
		mid := scales[len(scales)/2]
		r.SensitivityScale = mid.Name
		r.Sensitivity = e.Sensitivity(mid.DailyBytes)
	}
	return r
}

// WriteJSON writes the report as one indented JSON document.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// WriteTable writes the report as text tables.
func (r Report) WriteTable(w io.Writer) error {
	m := r.Measurement
	fmt.Fprintf(w, "corpus %s: %d lines, %d events, %.1f MiB raw; replayed in %.0f s\n", m.Corpus, m.Lines, m.Events, float64(m.RawBytes)/(1<<20), m.ReplaySeconds)
	fmt.Fprintf(w, "prices: %s (%s, %s)\n", r.Prices.File, r.Prices.Region, r.Prices.Date)
	fmt.Fprintf(w, "deployment: Kinesis %s, flush %s, %d alarms, %d dashboards\n", m.Deployment.KinesisMode, m.Deployment.FlushSchedule, m.Deployment.Alarms, m.Deployment.Dashboards)
	if m.SealedBytes > 0 {
		ratio := float64(m.SealedBytes) / float64(m.RawBytes)
		fmt.Fprintf(w, "lake: %d sealed objects, %d bytes = %.3f byte stored per raw byte; S3 Standard keeps a raw TB's data for $%.2f a month (not in $/TB below)\n",
			m.SealedObjects, m.SealedBytes, ratio, r.StoragePerTBMonth)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "per 1,000 events\tservice\toperation\tcalls\tRRU\tWRU\t")
	for _, c := range m.Calls {
		k := 1000 / float64(m.Events)
		fmt.Fprintf(tw, "\t%s\t%s\t%.2f\t%.2f\t%.2f\t\n", c.Service, c.Operation, float64(c.Requests)*k, c.ReadUnits*k, c.WriteUnits*k)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for _, s := range r.Scales {
		fmt.Fprintf(w, "\n== %s (%.2f TB a month) ==\n", s.Name, s.MonthlyTB)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "\tservice\titem\tunits/month\t$/month\t$/TB\t")
		block := func(title string, lines []Line, perTB float64) {
			for _, l := range lines {
				fixed := ""
				if l.Fixed {
					fixed = " (fixed)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s%s\t%.4g\t%.2f\t%.2f\t\n", title, l.Service, l.Item, fixed, l.Units, l.USD, l.PerTB)
				title = ""
			}
			fmt.Fprintf(tw, "\t\t= total\t\t%.2f\t%.2f\t\n", perTB*s.MonthlyTB, perTB)
		}
		block("Spillway", s.Spillway, s.SpillwayPerTB)
		block("Firehose", s.Firehose, s.FirehosePerTB)
		block(fmt.Sprintf("td-agent (%d)", s.AggregatorsSized), s.TDAgent, s.TDAgentPerTB)
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
		fmt.Fprintf(w, "Spillway $/TB / Firehose $/TB = %.3f (goal <= 0.200: %s)\n", s.RatioToFirehose, met(s.RatioToFirehose <= 0.2))
	}
	fmt.Fprintf(w, "\nwhat moves the cost, at %s (one knob at a time; * = as measured/deployed):\n", r.SensitivityScale)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "knob\tsetting\tSpillway $/TB\tratio to Firehose\t")
	for _, row := range r.Sensitivity {
		mark := ""
		if row.Measured {
			mark = " *"
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%.2f\t%.3f\t\n", row.Knob, row.Setting, mark, row.SpillwayPerTB, row.RatioToFirehose)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}
