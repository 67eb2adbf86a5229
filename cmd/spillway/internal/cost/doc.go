// Package cost owns the cost model of `spillway cost`: from what a replay
// through the local cloud counted (local/costrun's Measurement: a live
// window and a backfill window), list prices from one versioned price file
// (Prices) and AWS call latencies from another (Latencies), what that
// costs per TB of raw logs at a given daily volume (Estimate), next to
// Amazon Data Firehose and a td-agent aggregator fleet on EC2 doing the
// same job, plus the effect of the knobs users have (Sensitivity). Lambda
// duration is modelled (Latencies.Model: CPU time plus calls at AWS
// latencies, capped at the measured duration), the measured one kept as
// the upper bound. Flush's sealing is priced by the sealing cadence
// (Sealing: its calls per staged object scale with bytes, per sealed
// object and per seal with the seals the deployed cadence allows), the
// per-byte figure kept as the upper bound. It does no I/O besides reading price and latency files;
// docs/COST.md explains the model.
package cost
