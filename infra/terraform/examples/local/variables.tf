variable "endpoint" {
  description = "AWS endpoint every service is reached at (the local edge or moto)."
  type        = string
  default     = "http://127.0.0.1:4566"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "spillway-local"
}

variable "lambda_package_dir" {
  description = "Directory holding <name>-<arch>.zip as `make build` writes them."
  type        = string
  default     = "../../../../dist"
}

variable "architecture" {
  description = "Lambda architecture: arm64 or x86_64 (selects *-arm64.zip or *-amd64.zip)."
  type        = string
  default     = "arm64"
}

variable "td_endpoints" {
  description = "TD import API base URLs flush uploads to (the local TD receiver)."
  type        = list(string)
  default     = ["http://127.0.0.1:4568"]
}

variable "td_apikeys" {
  description = "TD API keys by endpoint URL stored in the secret."
  type        = map(string)
  default     = { "http://127.0.0.1:4568" = "1/local-test-key" }
  sensitive   = true
}

variable "flush_schedule_expression" {
  description = "EventBridge schedule of flush."
  type        = string
  default     = "rate(1 minute)"
}

variable "seal_after" {
  description = "Fanout asks for a flush of a table once its oldest unsealed commit is this old (the module's default, 30s; 0s is the low-latency setting)."
  type        = string
  default     = "30s"
}

variable "sweep_every" {
  description = "A scheduled flush passes over the tables again this often within its first 50 s while there is work (the module's default, 30s; 10s is the low-latency setting)."
  type        = string
  default     = "30s"
}

variable "esm_maximum_batching_window_seconds" {
  description = "How long the fanout event source mapping gathers records before invoking (the module's default, 1 s; 0 is the low-latency setting)."
  type        = number
  default     = 1
}

variable "esm_parallelization_factor" {
  description = "Concurrent fanout batches per shard (the module's default, 1; make chaos uses more). The local cloud runs shards x this many fanout environments."
  type        = number
  default     = 1
}

variable "stream_shards" {
  description = "null keeps the stream ON_DEMAND (one shard in moto); a number makes it PROVISIONED with that many shards (make chaos)."
  type        = number
  default     = null
}

variable "auto_create" {
  description = "Create databases and tables on first write."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "Function log level."
  type        = string
  default     = "debug"
}

variable "enable_kinesis_encryption" {
  description = "KMS SSE on the stream (moto accepts it; turn off for emulators that do not)."
  type        = bool
  default     = true
}

variable "enable_point_in_time_recovery" {
  description = "DynamoDB PITR (moto accepts it)."
  type        = bool
  default     = true
}

variable "enable_alarms" {
  description = "CloudWatch alarms (moto accepts them)."
  type        = bool
  default     = true
}

variable "enable_dashboard" {
  description = "CloudWatch dashboard (moto accepts it)."
  type        = bool
  default     = true
}

variable "enable_iam_auth_api" {
  description = "Also deploy the second HTTP API whose routes require AWS_IAM (SigV4)."
  type        = bool
  default     = false
}

variable "enable_lake" {
  description = "Turn on the Iceberg lake (Glue tables, S3 warehouse under lake/, an Athena workgroup) on the emulator."
  type        = bool
  default     = true
}
