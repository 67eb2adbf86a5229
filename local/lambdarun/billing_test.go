package lambdarun

import (
	"encoding/json"
	"testing"
	"time"
)

func TestBilledMs(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int64
	}{
		{0, 1}, {time.Nanosecond, 1}, {time.Millisecond, 1}, {time.Millisecond + time.Nanosecond, 2}, {1500 * time.Microsecond, 2}, {3 * time.Second, 3000},
	}
	for _, tc := range tests {
		if got := billedMs(tc.d); got != tc.want {
			t.Errorf("billedMs(%s) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestGBSeconds(t *testing.T) {
	tests := []struct {
		b    Billing
		want float64
	}{
		{Billing{MemoryMB: 1024, BilledMs: 1000}, 1},
		{Billing{MemoryMB: 512, BilledMs: 1500, InitMs: 500}, 1},
		{Billing{MemoryMB: 128, BilledMs: 8}, 0.001},
	}
	for _, tc := range tests {
		if got := tc.b.GBSeconds(); got != tc.want {
			t.Errorf("%+v.GBSeconds() = %v, want %v", tc.b, got, tc.want)
		}
	}
}

// TestBillingCounts: every invocation is billed at least 1 ms and the
// cold start's init phase is billed; memory is the configured one. A
// sleeping invocation is billed at least the time it asked to sleep.
func TestBillingCounts(t *testing.T) {
	r := newRunner(t, func(c *Config) { c.MemoryMB = 256 })
	ctx := ctxT(t)
	for range 3 {
		if _, err := r.Invoke(ctx, payload(t, map[string]any{"op": "echo"})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Invoke(ctx, payload(t, map[string]any{"op": "sleep", "ms": 20})); err != nil {
		t.Fatal(err)
	}
	b := r.Billing()
	if b.Function != "test-fn" || b.MemoryMB != 256 || b.Invocations != 4 || b.ColdStarts != 1 {
		t.Fatalf("billing %+v", b)
	}
	if b.BilledMs < 3+20 || b.InitMs < 1 {
		t.Errorf("billing %+v: want at least 23 ms billed and 1 ms of init", b)
	}
}

// TestBillingCPU: the CPU time the function's process used during its
// invocations is counted (to the kernel's ticks, 10 ms), and a sleeping
// invocation adds next to none of it.
func TestBillingCPU(t *testing.T) {
	r := newRunner(t, nil)
	ctx := ctxT(t)
	if _, err := r.Invoke(ctx, payload(t, map[string]any{"op": "echo"})); err != nil {
		t.Fatal(err)
	}
	before := r.Billing()
	out, err := r.Invoke(ctx, payload(t, map[string]any{"op": "burn", "ms": 200}))
	if err != nil {
		t.Fatal(err)
	}
	var burned float64
	if err := json.Unmarshal(out, &burned); err != nil {
		t.Fatalf("burn answered %s: %v", out, err)
	}
	b := r.Billing()
	// /proc/PID/stat gives utime and stime each truncated to a tick (10 ms
	// at USER_HZ 100), so a reading is short by up to two ticks and a
	// difference of two readings is off by up to two either way.
	const slack = 2 * 10
	cpu, billed := b.CPUMs-before.CPUMs, float64(b.BilledMs-before.BilledMs)
	if cpu < burned-slack || cpu > billed+slack {
		t.Errorf("CPU %.1f ms for an invocation that burned %.1f ms in %.0f billed ms", cpu, burned, billed)
	}
	if _, err := r.Invoke(ctx, payload(t, map[string]any{"op": "sleep", "ms": 200})); err != nil {
		t.Fatal(err)
	}
	if slept := r.Billing().CPUMs - b.CPUMs; slept >= burned/2 {
		t.Errorf("a 200 ms sleep used %.1f ms of CPU, as much as a 200 ms burn (%.1f ms)", slept, burned)
	}
}
