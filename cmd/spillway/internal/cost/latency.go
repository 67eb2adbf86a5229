package cost

import (
	"embed"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"

	"github.com/spillwayhq/spillway/local/costrun"
)

// DefaultLatenciesFile is the embedded latency file `spillway cost` uses
// unless given -latencies.
const DefaultLatenciesFile = "latency/aws-2026-12.json"

//go:embed latency/*.json
var latencyFiles embed.FS

// Latency is the wall time one call takes on AWS, with where the figure
// comes from (a page, or a stated assumption).
type Latency struct {
	Ms     float64 `json:"ms"`
	Source string  `json:"source"`
}

// ServiceLatency is a service's latency, with exceptions by operation.
type ServiceLatency struct {
	Latency
	Operations map[string]Latency `json:"operations,omitempty"`
}

// Latencies is a versioned latency file: what the modelled Lambda
// duration charges per AWS call, and the memory at which a function has a
// whole vCPU.
type Latencies struct {
	Date string `json:"date"`
	Note string `json:"note,omitempty"`
	// FullVCPU is the memory (MB) at which a function has one vCPU; CPU
	// time at less memory is stretched by FullVCPU.MB/memory.
	FullVCPU struct {
		MB     int    `json:"mb"`
		Source string `json:"source"`
	} `json:"full_vcpu_memory_mb"`
	// Default applies to services the file does not name.
	Default  Latency                   `json:"default"`
	Services map[string]ServiceLatency `json:"services"`
	// File is where the latencies were read from (not in the file).
	File string `json:"-"`
}

// tdService and tdImport name the TD import requests (not AWS calls: the
// TD receiver counts them) in a latency file.
const (
	tdService = "td"
	tdImport  = "import"
)

// Of is the latency of one call of service's operation.
func (l Latencies) Of(service, operation string) float64 {
	s, ok := l.Services[service]
	if !ok {
		return l.Default.Ms
	}
	if op, ok := s.Operations[operation]; ok {
		return op.Ms
	}
	return s.Ms
}

// Validate reports every problem: a missing date, vCPU memory or default,
// negative latencies, figures without a source.
func (l Latencies) Validate() error {
	var errs []error
	if l.Date == "" {
		errs = append(errs, errors.New("date: required"))
	}
	if l.FullVCPU.MB <= 0 || l.FullVCPU.Source == "" {
		errs = append(errs, errors.New("full_vcpu_memory_mb: mb and source required"))
	}
	check := func(path string, x Latency) {
		if x.Ms < 0 || math.IsNaN(x.Ms) {
			errs = append(errs, fmt.Errorf("%s.ms: must be 0 or more", path))
		}
		if x.Source == "" {
			errs = append(errs, fmt.Errorf("%s.source: required", path))
		}
	}
	check("default", l.Default)
	for _, name := range slices.Sorted(maps.Keys(l.Services)) {
		s := l.Services[name]
		check("services."+name, s.Latency)
		for _, op := range slices.Sorted(maps.Keys(s.Operations)) {
			check("services."+name+".operations."+op, s.Operations[op])
		}
	}
	return errors.Join(errs...)
}

// LoadLatencies reads a latency file strictly (unknown keys are errors);
// "" reads the embedded DefaultLatenciesFile.
func LoadLatencies(path string) (Latencies, error) {
	var l Latencies
	name, err := loadStrict(path, latencyFiles, DefaultLatenciesFile, "latencies", &l, func() error { return l.Validate() })
	if err != nil {
		return Latencies{}, err
	}
	l.File = name
	return l, nil
}

// Duration is one function's duration in a window: as measured on the
// local cloud (moto's latency included) and as modelled for AWS.
type Duration struct {
	Function    string `json:"function"`
	Invocations int64  `json:"invocations"`
	// MeasuredMs is the billed duration measured locally (each invocation
	// rounded up to 1 ms): the upper bound.
	MeasuredMs int64 `json:"measured_ms"`
	// CPUMs is the CPU time the function's processes used; CPUScaledMs
	// that stretched to the function's share of a vCPU.
	CPUMs       float64 `json:"cpu_ms"`
	CPUScaledMs float64 `json:"cpu_scaled_ms"`
	// Calls are the function's AWS calls (and TD imports), CallsMs what
	// they take at the latency file's figures.
	Calls   int64   `json:"calls"`
	CallsMs float64 `json:"calls_ms"`
	// ModelledMs is min(cap, CPUScaledMs + CallsMs + 0.5 ms of rounding
	// per invocation), the cap being MeasuredMs with its CPU time
	// stretched to the priced memory's vCPU share; MeasuredMs when not
	// Modelled.
	ModelledMs float64 `json:"modelled_ms"`
	// Modelled is false when the measurement has no per-function calls
	// (functions that shared an access key, version 1 files): the
	// measured duration is used.
	Modelled bool `json:"modelled"`
	// Capped marks a model above the cap (the cap is used).
	Capped bool `json:"capped,omitempty"`
}

// Model is the modelled duration of one function's usage f at memoryMB
// (its configured memory when 0); tdRequests are TD import requests it
// made (flush's).
func (l Latencies) Model(name string, f costrun.FunctionUsage, tdRequests int64, memoryMB int) Duration {
	if memoryMB == 0 {
		memoryMB = f.MemoryMB
	}
	d := Duration{Function: name, Invocations: f.Invocations, MeasuredMs: f.BilledMs, CPUMs: f.CPUMs, ModelledMs: float64(f.BilledMs)}
	if f.Invocations == 0 {
		d.Modelled = true
		d.ModelledMs = 0
		return d
	}
	if f.Calls == nil && tdRequests == 0 {
		return d
	}
	d.Modelled = true
	d.CPUScaledMs = f.CPUMs * l.stretch(memoryMB)
	for _, c := range f.Calls {
		d.Calls += c.Requests
		d.CallsMs += float64(c.Requests) * l.Of(c.Service, c.Operation)
	}
	d.Calls += tdRequests
	d.CallsMs += float64(tdRequests) * l.Of(tdService, tdImport)
	model := d.CPUScaledMs + d.CallsMs + 0.5*float64(f.Invocations)
	// The cap is the measured duration, its CPU part stretched or shrunk
	// to memoryMB's vCPU share when that differs from the measured memory.
	upper := float64(f.BilledMs) + f.CPUMs*(l.stretch(memoryMB)-l.stretch(f.MemoryMB))
	d.ModelledMs = math.Min(model, upper)
	d.Capped = model > upper
	return d
}

// stretch is how much longer CPU work takes at memoryMB than on a whole
// vCPU (1 at FullVCPU.MB and above).
func (l Latencies) stretch(memoryMB int) float64 {
	if memoryMB > 0 && memoryMB < l.FullVCPU.MB {
		return float64(l.FullVCPU.MB) / float64(memoryMB)
	}
	return 1
}

// GBSeconds is the duration plus init at memoryMB (f's configured memory
// when 0), modelled or measured.
func (d Duration) GBSeconds(f costrun.FunctionUsage, memoryMB int, modelled, warm bool) float64 {
	if memoryMB == 0 {
		memoryMB = f.MemoryMB
	}
	ms := float64(d.MeasuredMs)
	if modelled {
		ms = d.ModelledMs
	}
	if !warm {
		ms += float64(f.InitMs)
	}
	return ms / 1000 * float64(memoryMB) / 1024
}

// durations models every function of a usage; TD imports are flush's.
func (l Latencies) durations(u costrun.Usage, memoryMB int) []Duration {
	names := make([]string, 0, len(u.Functions))
	for n := range u.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Duration, 0, len(names))
	for _, n := range names {
		var td int64
		if n == "flush" {
			td = u.TDRequests
		}
		out = append(out, l.Model(n, u.Functions[n], td, memoryMB))
	}
	return out
}
