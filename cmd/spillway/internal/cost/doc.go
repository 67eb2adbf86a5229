// Package cost owns the cost model of `spillway cost`: from what a replay
// through the local cloud counted (local/costrun's Measurement) and list
// prices from one
// versioned price file (Prices), and what that costs per TB of raw logs at
// a given daily volume (Estimate), next to Amazon Data Firehose and a
// td-agent aggregator fleet on EC2 doing the same job, plus the effect of
// the knobs users have (Sensitivity). It does no I/O besides reading price
// files; docs/COST.md explains the model.
package cost
