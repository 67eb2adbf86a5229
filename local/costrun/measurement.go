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
}

// Call is one counted operation (for the report and the check against the
// edge's log).
type Call struct {
	Service       string  `json:"service"`
	Operation     string  `json:"operation"`
	Requests      int64   `json:"requests"`
	RequestBytes  int64   `json:"request_bytes"`
	ResponseBytes int64   `json:"response_bytes"`
	ReadUnits     float64 `json:"dynamodb_read_units,omitempty"`
	WriteUnits    float64 `json:"dynamodb_write_units,omitempty"`
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
}

// Measurement is what one replay of a corpus through the local cloud
// counted. `spillway cost` writes it with -save and reads it with -measurement.
type Measurement struct {
	Corpus   string `json:"corpus"`
	Lines    int64  `json:"lines"`
	Events   int64  `json:"events"`
	RawBytes int64  `json:"raw_bytes"`
	// FirehoseRecordBytes is the corpus as Firehose bills it when each
	// line is one record: every line (with its newline) rounded up to 5 KB.
	FirehoseRecordBytes int64   `json:"firehose_record_bytes"`
	Tables              int     `json:"tables"`
	ReplaySeconds       float64 `json:"replay_seconds"`
	// Replay is the pipeline's usage during the replay (the harness's own
	// reads excluded).
	Replay Usage `json:"replay"`
	// IdleFlush is one scheduled flush run on the idle deployment; the
	// schedule's runs are priced as a fixed monthly cost from it.
	IdleFlush Usage `json:"idle_flush"`
	// ScheduledRuns are the scheduled flush runs that fired during the replay.
	ScheduledRuns int64 `json:"scheduled_runs"`
	// SealedObjects and SealedBytes are what the replay added under data/.
	SealedObjects int64      `json:"sealed_objects"`
	SealedBytes   int64      `json:"sealed_bytes"`
	Deployment    Deployment `json:"deployment"`
	// Calls are the functions' calls during the replay; ESMCalls the event
	// source mapping poller's (AWS-managed: only Kinesis's data out is
	// billed); IdleFlushCalls the idle flush run's.
	Calls          []Call `json:"calls"`
	ESMCalls       []Call `json:"esm_calls"`
	IdleFlushCalls []Call `json:"idle_flush_calls"`
}

// Validate reports a measurement that cannot be priced.
func (m Measurement) Validate() error {
	if m.RawBytes <= 0 || m.Events <= 0 {
		return fmt.Errorf("measurement of %q: no events or bytes replayed (%d events, %d bytes)", m.Corpus, m.Events, m.RawBytes)
	}
	return nil
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
	return m, m.Validate()
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
