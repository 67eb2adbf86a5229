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

// WindowReport is one window priced at every scale.
type WindowReport struct {
	// Window is costrun.WindowLive or costrun.WindowBackfill.
	Window string        `json:"window"`
	Scales []ScaleReport `json:"scales"`
	// Durations are the functions' measured and modelled durations in
	// the window.
	Durations []Duration `json:"durations"`
}

// Report is what `spillway cost` prints. Window, Scales and Durations are
// the headline window's: live traffic, or the backfill when the
// measurement has no live window (version 1 files); Backfill is the
// backfill window when the headline is live.
type Report struct {
	Prices struct {
		File   string `json:"file"`
		Region string `json:"region"`
		Date   string `json:"date"`
	} `json:"prices"`
	Latencies struct {
		File string `json:"file"`
		Date string `json:"date"`
	} `json:"latencies"`
	Measurement costrun.Measurement `json:"measurement"`
	Options     Options             `json:"options"`
	WindowReport
	Backfill    *WindowReport    `json:"backfill,omitempty"`
	Sensitivity []SensitivityRow `json:"sensitivity"`
	// SensitivityScale names the scale the sensitivity table is priced at
	// (headline window).
	SensitivityScale string `json:"sensitivity_scale"`
	// StoragePerTBMonth is what S3 Standard charges a month to keep what
	// one raw TB becomes in the lake (headline window, first tier; not in
	// the $/TB figures).
	StoragePerTBMonth float64 `json:"storage_usd_per_raw_tb_month"`
}

// NewReport prices every window of m at every scale and the knobs of the
// headline window at the middle scale.
func NewReport(m costrun.Measurement, p Prices, l Latencies, o Options, scales []Scale) Report {
	var r Report
	r.Prices.File, r.Prices.Region, r.Prices.Date = p.File, p.Region, p.Date
	r.Latencies.File, r.Latencies.Date = l.File, l.Date
	r.Measurement, r.Options = m, o
	head := m.Headline()
	if head == nil {
		return r
	}
	window := func(w *costrun.Window) WindowReport {
		e := Estimator{M: m, W: w, P: p, L: l, Opts: o}
		wr := WindowReport{Window: w.Name, Durations: l.durations(w.Replay, 0)}
		for _, s := range scales {
			wr.Scales = append(wr.Scales, ScaleReport{Scale: s, Estimate: e.Estimate(s.DailyBytes, Knobs{})})
		}
		return wr
	}
	r.WindowReport = window(head)
	if m.Backfill != nil && m.Backfill != head {
		b := window(m.Backfill)
		r.Backfill = &b
	}
	if m.RawBytes > 0 {
		gb := float64(head.SealedBytes) / float64(m.RawBytes) * TB / GB
		r.StoragePerTBMonth = gb * p.Prices[S3StorageGBMonth].USD / p.Prices[S3StorageGBMonth].Per
	}
	if len(scales) > 0 {
		mid := scales[len(scales)/2]
		r.SensitivityScale = mid.Name
		r.Sensitivity = Estimator{M: m, W: head, P: p, L: l, Opts: o}.Sensitivity(mid.DailyBytes)
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

// windowTitle labels a window in the table.
func windowTitle(w *costrun.Window) string {
	parts := ""
	if w.SealedPartitions > 0 {
		parts = fmt.Sprintf("; %d sealed hour partitions", w.SealedPartitions)
	}
	switch w.Name {
	case costrun.WindowLive:
		return "LIVE TRAFFIC (events timed as read" + parts + ")"
	case costrun.WindowBackfill:
		return "BACKFILL (the corpus's own event times" + parts + ")"
	}
	return w.Name
}

// WriteTable writes the report as text tables: the windows' summaries,
// each window's calls and durations, the headline window's priced lines
// per scale and the knobs.
func (r Report) WriteTable(w io.Writer) error {
	m := r.Measurement
	fmt.Fprintf(w, "corpus %s: %d lines, %.1f MiB raw\n", m.Corpus, m.Lines, float64(m.RawBytes)/(1<<20))
	fmt.Fprintf(w, "prices: %s (%s, %s); latencies: %s (%s)\n", r.Prices.File, r.Prices.Region, r.Prices.Date, r.Latencies.File, r.Latencies.Date)
	fmt.Fprintf(w, "deployment: Kinesis %s, flush %s, %d alarms, %d dashboards\n", m.Deployment.KinesisMode, m.Deployment.FlushSchedule, m.Deployment.Alarms, m.Deployment.Dashboards)
	if m.Live == nil {
		fmt.Fprintf(w, "measurement version %d: no live window; the figures below are the backfill's (re-measure for live traffic)\n", m.Version)
	}
	if err := r.summary(w); err != nil {
		return err
	}
	for _, win := range m.Windows() {
		if err := r.windowDetail(w, win); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\n%s, priced line by line:\n", windowTitle(m.Headline()))
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
		fmt.Fprintf(w, "Spillway $/TB / Firehose $/TB = %.3f (goal <= 0.200: %s); at the durations measured on moto (upper bound): %.2f $/TB, %.4g GB-s\n",
			s.RatioToFirehose, met(s.RatioToFirehose <= 0.2), s.SpillwayPerTBMeasuredDuration, s.LambdaGBSecondsMeasured)
		if sl := s.Sealing; sl.Split {
			fmt.Fprintf(w, "flush: %.4g seals a month (the window's rate capped at the cadence's %.4g, at least the %.4g its staged objects force, %d a manifest), %.4g sealed objects; every call per byte (upper bound): %.2f $/TB, ratio %.3f\n",
				sl.SealsPerMonth, sl.CadenceCapPerMonth, sl.ForcedPerMonth, maxClaim, sl.SealedPerMonth, s.SpillwayPerTBPerByte, s.RatioToFirehosePerByte)
		}
	}
	fmt.Fprintf(w, "\nwhat moves the cost, %s at %s (one knob at a time; * = as measured/deployed):\n", r.Window, r.SensitivityScale)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
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

// summary prints $/TB per window and scale, the headline first.
func (r Report) summary(w io.Writer) error {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "window\tscale\tSpillway $/TB\tupper bound (moto durations)\tFirehose $/TB\tratio\tratio, flush per byte\ttd-agent $/TB\t")
	windows := []WindowReport{r.WindowReport}
	if r.Backfill != nil {
		windows = append(windows, *r.Backfill)
	}
	for _, wr := range windows {
		title := wr.Window
		for _, s := range wr.Scales {
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.2f\t%.3f\t%.3f\t%.2f\t\n", title, s.Name, s.SpillwayPerTB, s.SpillwayPerTBMeasuredDuration,
				s.FirehosePerTB, s.RatioToFirehose, s.RatioToFirehosePerByte, s.TDAgentPerTB)
			title = ""
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// windowDetail prints one window's events, lake, calls per 1,000 events
// and durations.
func (r Report) windowDetail(w io.Writer, win *costrun.Window) error {
	m := r.Measurement
	fmt.Fprintf(w, "\n%s: %d events replayed in %.0f s\n", windowTitle(win), win.Events, win.ReplaySeconds)
	if win.SealedBytes > 0 {
		fmt.Fprintf(w, "lake: %d sealed objects, %d bytes = %.3f byte stored per raw byte\n",
			win.SealedObjects, win.SealedBytes, float64(win.SealedBytes)/float64(m.RawBytes))
	}
	if win.Seals > 0 {
		fmt.Fprintf(w, "flush: %d seals (manifests), %.2f sealed objects and %.0f events a seal\n",
			win.Seals, float64(win.SealedObjects)/float64(win.Seals), float64(win.Events)/float64(win.Seals))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "per 1,000 events\tservice\toperation\tresource\tcalls\tRRU\tWRU\t")
	k := 1000 / float64(win.Events)
	for _, c := range win.Calls {
		fmt.Fprintf(tw, "\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t\n", c.Service, c.Operation, c.Resource, float64(c.Requests)*k, c.ReadUnits*k, c.WriteUnits*k)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Lambda duration\tfunction\tinvocations\tmeasured ms\tCPU ms\tCPU ms at its vCPU share\tcalls\tcalls ms\tmodelled ms\t")
	for _, d := range r.durations(win.Name) {
		note := ""
		switch {
		case !d.Modelled:
			note = " (no per-function calls: measured)"
		case d.Capped:
			note = " (capped at measured)"
		}
		fmt.Fprintf(tw, "\t%s\t%d\t%d\t%.0f\t%.0f\t%d\t%.0f\t%.0f%s\t\n", d.Function, d.Invocations, d.MeasuredMs, d.CPUMs, d.CPUScaledMs, d.Calls, d.CallsMs, d.ModelledMs, note)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// durations are the named window's durations.
func (r Report) durations(window string) []Duration {
	if r.Backfill != nil && r.Backfill.Window == window {
		return r.Backfill.Durations
	}
	if r.Window == window {
		return r.Durations
	}
	return nil
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}
