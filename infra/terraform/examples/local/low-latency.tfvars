# The low-latency setting (issue 11): every acknowledged event visible in S3,
# each TD endpoint, the lake and the catalog within seconds instead of about
# half a minute, for more flush invocations and smaller sealed objects
# (docs/COST.md prices seal_after). Measured with
# `go run ./bench/e2e -setting low-latency` (BENCHMARKS.md, Freshness).
#
#   make local-up TFVARS=infra/terraform/examples/local/low-latency.tfvars
#
# In a deployment of the module, the same settings are flush.seal_after,
# flush.sweep_every and event_source_mapping.maximum_batching_window_seconds.

# Fanout asks for a flush after every commit (default: once a table's
# oldest unsealed commit is 30 s old).
seal_after = "0s"

# A scheduled flush passes over the tables every 10 s of its first 50 s
# (default 30 s).
sweep_every = "10s"

# The event source mapping invokes fanout as soon as records arrive
# (default: gathers them for 1 s).
esm_maximum_batching_window_seconds = 0
