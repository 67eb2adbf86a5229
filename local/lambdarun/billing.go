package lambdarun

import (
	"time"

	"github.com/prometheus/procfs"
)

// Billing is what Lambda bills one function for
// (https://aws.amazon.com/lambda/pricing/): requests, and duration in
// GB-seconds - the time from the start of each invocation to its end
// rounded up to the next millisecond, plus the init phase of every cold
// start (billed for custom runtimes such as provided.al2023, and for every
// runtime since August 2025), times the configured memory.
type Billing struct {
	// Function is the function name.
	Function string `json:"function"`
	// MemoryMB is the configured memory.
	MemoryMB int `json:"memory_mb"`
	// Invocations are the invocations started (retries of async events included).
	Invocations int64 `json:"invocations"`
	// BilledMs is the sum of the invocations' durations, each rounded up to 1 ms.
	BilledMs int64 `json:"billed_ms"`
	// InitMs is the sum of the cold starts' init durations, rounded up to 1 ms.
	InitMs int64 `json:"init_ms"`
	// ColdStarts is the number of cold starts.
	ColdStarts int64 `json:"cold_starts"`
	// CPUMs is the CPU time (user + system, every thread) the function's
	// processes used during the invocations, in ms. It is read from
	// /proc/PID/stat (utime + stime) when an invocation starts and when it
	// ends, so each reading has the kernel's tick resolution (10 ms at
	// USER_HZ 100); summed over many invocations the errors average out.
	// Invocations whose process is gone at the end (timeouts, crashes)
	// add nothing. Not billed by AWS: the cost model's input.
	CPUMs float64 `json:"cpu_ms"`
}

// GBSeconds is (BilledMs + InitMs) x MemoryMB / 1024 / 1000.
func (b Billing) GBSeconds() float64 {
	return float64(b.BilledMs+b.InitMs) / 1000 * float64(b.MemoryMB) / 1024
}

// billedMs is d rounded up to the next millisecond (at least 1).
func billedMs(d time.Duration) int64 {
	return max(1, int64((d+time.Millisecond-1)/time.Millisecond))
}

// Billing returns the function's billed usage since New.
func (r *Runner) Billing() Billing {
	return Billing{
		Function: r.cfg.Name, MemoryMB: r.cfg.MemoryMB, Invocations: r.invocations.Load(),
		BilledMs: r.billedMs.Load(), InitMs: r.initMs.Load(), ColdStarts: r.coldStarts.Load(),
		CPUMs: float64(r.cpuMicros.Load()) / 1000,
	}
}

// processCPU is the CPU time (utime + stime of all its threads) process
// pid has used so far; ok is false when it cannot be read (the process is
// gone, or no /proc).
func processCPU(pid int) (d time.Duration, ok bool) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, false
	}
	st, err := p.Stat()
	if err != nil {
		return 0, false
	}
	return time.Duration(st.CPUTime() * float64(time.Second)), true
}
