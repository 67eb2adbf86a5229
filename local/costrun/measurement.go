package costrun

import (
	"encoding/json"
	"fmt"
	"os"
)

// FunctionUsage is one Lambda function's billed usage.
type FunctionUsage struct {
	MemoryMB    int   `json:"memory_mb"`
	Invocations int64 `json:"invocations"`
	// BilledMs is the invocations' durations, each rounded up to 1 ms;
	// InitMs the cold starts' init phases.
	BilledMs int64 `json:"billed_ms"`
	InitMs   int64 `json:"init_ms"`
	// LogBytes are the bytes the function logged (CloudWatch Logs ingestion).
	LogBytes int64 `json:"log_bytes"`
	// CPUMs is the CPU time the function's processes used during the
	// invocations (lambdarun.Billing.CPUMs); 0 in version 1 measurements.
	CPUMs float64 `json:"cpu_ms,omitempty"`
	// Calls are the AWS calls this function made, when it signed with an
	// access key of its own (`spillway cost` deploys it so; see
	// FunctionAccessKeys); nil when functions share a key, and in version
	// 1 measurements.
	Calls []Call `json:"calls,omitempty"`
}

// GBSeconds is the billed duration at memoryMB (the configured memory when 0).
func (f FunctionUsage) GBSeconds(memoryMB int) float64 {
	if memoryMB == 0 {
		memoryMB = f.MemoryMB
	}
	return float64(f.BilledMs+f.InitMs) / 1000 * float64(memoryMB) / 1024
}

// WarmGBSeconds is GBSeconds without the init phases (a function kept
// warm, as one the schedule invokes every minute).
func (f FunctionUsage) WarmGBSeconds(memoryMB int) float64 {
	f.InitMs = 0
	return f.GBSeconds(memoryMB)
}

// Usage is what the pipeline's own calls counted, in AWS's billing units.
type Usage struct {
	// APIRequests and APIMeteredRequests are the API front's requests
	// (metered in 512 KB increments).
	APIRequests        int64 `json:"api_requests"`
	APIMeteredRequests int64 `json:"api_metered_requests"`
	// Functions are keyed by short name: ingest, fanout, flush.
	Functions           map[string]FunctionUsage `json:"functions"`
	KinesisRecords      int64                    `json:"kinesis_records"`
	KinesisPayloadUnits int64                    `json:"kinesis_payload_units"`
	KinesisWrittenKB    int64                    `json:"kinesis_written_kb"`
	KinesisReadBytes    int64                    `json:"kinesis_read_bytes"`
	DynamoDBReadUnits   float64                  `json:"dynamodb_read_units"`
	DynamoDBWriteUnits  float64                  `json:"dynamodb_write_units"`
	S3Tier1             int64                    `json:"s3_tier1_requests"`
	S3Tier2             int64                    `json:"s3_tier2_requests"`
	S3Free              int64                    `json:"s3_free_requests"`
	GlueRequests        int64                    `json:"glue_requests"`
	// TDRequests are the HTTP requests the TD import endpoints received
	// (flush's imports; not AWS calls, so the edge does not see them).
	TDRequests int64 `json:"td_requests,omitempty"`
}

// Call is one counted operation (for the report and the check against the
// edge's log).
type Call struct {
	Service   string `json:"service"`
	Operation string `json:"operation"`
	// Resource is what the call addressed, by its role in the deployment
	// (see ResourceLakeMetadata); "" in version 1 and 2 measurements.
	Resource string `json:"resource,omitempty"`
	// S3Class is an S3 call's pricing class (edge.BillingUnits.S3Class).
	S3Class       string  `json:"s3_class,omitempty"`
	Requests      int64   `json:"requests"`
	RequestBytes  int64   `json:"request_bytes"`
	ResponseBytes int64   `json:"response_bytes"`
	ReadUnits     float64 `json:"dynamodb_read_units,omitempty"`
	WriteUnits    float64 `json:"dynamodb_write_units,omitempty"`
}

// Add adds o's counts to c (same service, operation and resource).
func (c *Call) Add(o Call) {
	c.Service, c.Operation, c.Resource = o.Service, o.Operation, o.Resource
	if o.S3Class != "" {
		c.S3Class = o.S3Class
	}
	c.Requests += o.Requests
	c.RequestBytes += o.RequestBytes
	c.ResponseBytes += o.ResponseBytes
	c.ReadUnits += o.ReadUnits
	c.WriteUnits += o.WriteUnits
}

// Deployment is what was deployed (Terraform through the AWS APIs).
type Deployment struct {
	// KinesisMode is ON_DEMAND or PROVISIONED; Shards the open shards.
	KinesisMode string `json:"kinesis_mode"`
	Shards      int    `json:"shards"`
	// FlushSchedule is the flush rule's expression; FlushRunsPerMonth what
	// it fires in a month.
	FlushSchedule     string  `json:"flush_schedule"`
	FlushRunsPerMonth float64 `json:"flush_runs_per_month"`
	Alarms            int     `json:"alarms"`
	Dashboards        int     `json:"dashboards"`
	// The sealing cadence (0 in version 1 and 2 measurements):
	// SealAfterSeconds is fanout's SPILLWAY_SEAL_AFTER (a table's oldest
	// unsealed commit this old asks for a flush), SweepEverySeconds flush's
	// SPILLWAY_SWEEP_EVERY (a scheduled run passes over the tables again
	// this often within its first 50 s), SealTargetBytes flush's
	// SPILLWAY_SEAL_TARGET_BYTES (uncompressed bytes per sealed object:
	// flush splits a seal's output at it).
	SealAfterSeconds  float64 `json:"seal_after_seconds,omitempty"`
	SweepEverySeconds float64 `json:"sweep_every_seconds,omitempty"`
	SealTargetBytes   int64   `json:"seal_target_bytes,omitempty"`
}

// Window names.
const (
	// WindowLive is the corpus replayed with every event timed when the
	// forwarder read it, as a live tail would time it (LiveForwarderConfig).
	WindowLive = "live"
	// WindowBackfill is the corpus replayed with its own event times (a
	// one-off import of old logs).
	WindowBackfill = "backfill"
)

// Window is one replay of the corpus: what the pipeline's own calls
// counted from the end of the previous window to the pipeline's going
// quiet after the replay.
type Window struct {
	// Name is WindowLive or WindowBackfill.
	Name          string  `json:"name"`
	Events        int64   `json:"events"`
	Tables        int     `json:"tables"`
	ReplaySeconds float64 `json:"replay_seconds"`
	// Replay is the pipeline's usage during the window (the harness's own
	// reads excluded).
	Replay Usage `json:"replay"`
	// ScheduledRuns are the scheduled flush runs that fired in the window.
	ScheduledRuns int64 `json:"scheduled_runs"`
	// SealedObjects and SealedBytes are what the window added under data/;
	// SealedPartitions the distinct db/table/dt/hour partitions they lie in.
	SealedObjects    int64 `json:"sealed_objects"`
	SealedBytes      int64 `json:"sealed_bytes"`
	SealedPartitions int   `json:"sealed_partitions"`
	// Seals are the manifests flush wrote in the window (its PutObject
	// calls under manifests/: one body per manifest), each one seal of a
	// table's staged objects; 0 in version 1 and 2 measurements.
	Seals int64 `json:"seals,omitempty"`
	// Calls are the functions' calls in the window; ESMCalls the event
	// source mapping poller's (AWS-managed: only Kinesis's data out is
	// billed).
	Calls    []Call `json:"calls"`
	ESMCalls []Call `json:"esm_calls"`
}

// MeasurementVersion is the format WriteFile writes: 2 has two windows
// (live and backfill) and per-function CPU time and calls; 3 adds each
// call's resource and S3 class, each window's seals and the deployment's
// sealing cadence. LoadMeasurement also reads versions 2 (without those)
// and 1 (one window with the corpus's own times, loaded as the backfill
// window).
const MeasurementVersion = 3

// Measurement is what `spillway cost` measured of one corpus in one local
// cloud: after a warm-up (the first line, not priced), one scheduled flush
// run on the idle deployment, then the corpus replayed as live traffic,
// then again as a backfill, in contiguous windows. `spillway cost` writes it with -save and reads it with
// -measurement.
type Measurement struct {
	Version  int    `json:"version"`
	Corpus   string `json:"corpus"`
	Lines    int64  `json:"lines"`
	RawBytes int64  `json:"raw_bytes"`
	// FirehoseRecordBytes is the corpus as Firehose bills it when each
	// line is one record: every line (with its newline) rounded up to 5 KB.
	FirehoseRecordBytes int64 `json:"firehose_record_bytes"`
	// IdleFlush is one scheduled flush run on the idle deployment; the
	// schedule's runs are priced as a fixed monthly cost from it.
	// IdleFlushCalls are its calls.
	IdleFlush      Usage      `json:"idle_flush"`
	IdleFlushCalls []Call     `json:"idle_flush_calls"`
	Deployment     Deployment `json:"deployment"`
	// WarmupCalls are the calls of the warm-up before the windows (the
	// corpus's first line replayed as live traffic; not priced), so that
	// the idle run and the windows with it account for every call.
	WarmupCalls []Call `json:"warmup_calls,omitempty"`
	// Live and Backfill are the two windows; a version 1 file has only
	// Backfill.
	Live     *Window `json:"live,omitempty"`
	Backfill *Window `json:"backfill,omitempty"`
}

// Windows are the measured windows, live first.
func (m Measurement) Windows() []*Window {
	var out []*Window
	for _, w := range []*Window{m.Live, m.Backfill} {
		if w != nil {
			out = append(out, w)
		}
	}
	return out
}

// Headline is the window the report leads with: live traffic when
// measured, else the backfill (version 1 files).
func (m Measurement) Headline() *Window {
	if m.Live != nil {
		return m.Live
	}
	return m.Backfill
}

// Validate reports a measurement that cannot be priced.
func (m Measurement) Validate() error {
	if m.RawBytes <= 0 {
		return fmt.Errorf("measurement of %q: no bytes replayed", m.Corpus)
	}
	if len(m.Windows()) == 0 {
		return fmt.Errorf("measurement of %q: no window", m.Corpus)
	}
	for _, w := range m.Windows() {
		if w.Events <= 0 {
			return fmt.Errorf("measurement of %q: no events in the %s window", m.Corpus, w.Name)
		}
	}
	return nil
}

// measurementV1 is the version 1 format: one window, at the top level.
type measurementV1 struct {
	Window
	Corpus              string     `json:"corpus"`
	Lines               int64      `json:"lines"`
	RawBytes            int64      `json:"raw_bytes"`
	FirehoseRecordBytes int64      `json:"firehose_record_bytes"`
	IdleFlush           Usage      `json:"idle_flush"`
	IdleFlushCalls      []Call     `json:"idle_flush_calls"`
	Deployment          Deployment `json:"deployment"`
}

// LoadMeasurement reads a measurement written by WriteFile.
func LoadMeasurement(path string) (Measurement, error) {
	var m Measurement
	b, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("read measurement: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode measurement %s: %w", path, err)
	}
	switch {
	case m.Version == 0 || m.Version == 1:
		var v1 measurementV1
		if err := json.Unmarshal(b, &v1); err != nil {
			return m, fmt.Errorf("decode version 1 measurement %s: %w", path, err)
		}
		w := v1.Window
		w.Name = WindowBackfill
		m = Measurement{Version: 1, Corpus: v1.Corpus, Lines: v1.Lines, RawBytes: v1.RawBytes, FirehoseRecordBytes: v1.FirehoseRecordBytes,
			IdleFlush: v1.IdleFlush, IdleFlushCalls: v1.IdleFlushCalls, Deployment: v1.Deployment, Backfill: &w}
	case m.Version > MeasurementVersion:
		return m, fmt.Errorf("measurement %s: version %d is newer than this spillway reads (%d)", path, m.Version, MeasurementVersion)
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("measurement %s: %w", path, err)
	}
	return m, nil
}

// WriteFile writes the measurement as indented JSON.
func (m Measurement) WriteFile(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode measurement: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write measurement: %w", err)
	}
	return nil
}
