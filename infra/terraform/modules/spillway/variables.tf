variable "name_prefix" {
  description = "Prefix of every resource name (3-32 characters of [a-z0-9-])."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]{3,32}$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of [a-z0-9-]."
  }
}

variable "tags" {
  description = "Tags added to every taggable resource."
  type        = map(string)
  default     = {}
}

variable "lambda_package_dir" {
  description = "Directory holding the function zips as `make build` writes them: <name>-<arch>.zip (e.g. dist/ingest-arm64.zip)."
  type        = string
}

variable "architecture" {
  description = "Lambda instruction set: arm64 (zips *-arm64.zip) or x86_64 (zips *-amd64.zip)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "functions" {
  description = "Per-function sizing. reserved_concurrency = -1 leaves the function unreserved."
  type = object({
    ingest = optional(object({
      memory_size          = optional(number, 512)
      timeout              = optional(number, 29)
      reserved_concurrency = optional(number, -1)
    }), {})
    fanout = optional(object({
      memory_size          = optional(number, 1024)
      timeout              = optional(number, 120)
      reserved_concurrency = optional(number, -1)
    }), {})
    flush = optional(object({
      memory_size          = optional(number, 1024)
      timeout              = optional(number, 900)
      reserved_concurrency = optional(number, 1)
    }), {})
  })
  default = {}
}

variable "log_level" {
  description = "SPILLWAY_LOG_LEVEL of every function: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' and the API's CloudWatch log groups, in days."
  type        = number
  default     = 14
}

variable "tracing_enabled" {
  description = "Enable AWS X-Ray active tracing on the functions (attaches AWSXRayDaemonWriteAccess)."
  type        = bool
  default     = false
}

variable "auth_mode" {
  description = "How ingest authenticates clients: apikey (TD1 API keys in the apikeys table) or iam (SigV4; every route uses AWS_IAM authorization)."
  type        = string
  default     = "apikey"

  validation {
    condition     = contains(["apikey", "iam"], var.auth_mode)
    error_message = "auth_mode must be apikey or iam."
  }
}

variable "auto_create" {
  description = "Create databases and tables on first write (SPILLWAY_AUTO_CREATE)."
  type        = bool
  default     = false
}

variable "stream" {
  description = "Kinesis data stream. mode ON_DEMAND or PROVISIONED (shard_count used only then); encryption enables KMS SSE with kms_key_id; tagged=false leaves the stream untagged (moto 5.2 ignores tags given to CreateStream, so plans would never settle)."
  type = object({
    mode            = optional(string, "ON_DEMAND")
    shard_count     = optional(number, 1)
    retention_hours = optional(number, 24)
    encryption      = optional(bool, true)
    kms_key_id      = optional(string, "alias/aws/kinesis")
    tagged          = optional(bool, true)
  })
  default = {}

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream.mode)
    error_message = "stream.mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "event_source_mapping" {
  description = "Kinesis -> fanout event source mapping. Concurrency per shard = parallelization_factor. maximum_record_age_seconds (default 18 h) must stay at least 6 h below stream.retention_hours, so that the on-failure pointers of records it gives up on can still be replayed from the stream (checked at plan)."
  type = object({
    batch_size                      = optional(number, 100)
    maximum_batching_window_seconds = optional(number, 1)
    parallelization_factor          = optional(number, 1)
    bisect_batch_on_function_error  = optional(bool, true)
    maximum_retry_attempts          = optional(number, 10)
    maximum_record_age_seconds      = optional(number, 64800)
    starting_position               = optional(string, "TRIM_HORIZON")
    on_failure_queue_retention_s    = optional(number, 1209600)
  })
  default = {}
}

variable "api" {
  description = "HTTP API: stage throttling, access logs, an optional second API whose routes all require AWS_IAM (SigV4) auth, and an optional custom domain (ACM certificate in the same region)."
  type = object({
    throttling_burst_limit = optional(number, 1000)
    throttling_rate_limit  = optional(number, 2000)
    access_logs            = optional(bool, true)
    iam_auth_api           = optional(bool, false)
    custom_domain = optional(object({
      domain_name     = string
      certificate_arn = string
    }))
  })
  default = {}
}

variable "flush" {
  description = "Flush schedule and sealing: EventBridge schedule expression, target sealed object size (64 MiB), late window and future limit (Go durations), ledger TTL in hours. Defaults equal the Go DefaultConfig values (a test checks). ledger_ttl_hours defaults to resend_horizon_hours + stream.retention_hours + 24 (216 with the defaults); a smaller value fails the plan."
  type = object({
    schedule_expression = optional(string, "rate(5 minutes)")
    seal_target_bytes   = optional(number, 67108864)
    late_window         = optional(string, "10m")
    future_limit        = optional(string, "1h")
    ledger_ttl_hours    = optional(number)
  })
  default = {}

  validation {
    condition     = var.flush.seal_target_bytes > 0 && can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.flush.late_window)) && can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.flush.future_limit))
    error_message = "flush.seal_target_bytes must be positive; flush.late_window and flush.future_limit must be Go durations such as 10m or 1h."
  }
}

variable "resend_horizon_hours" {
  description = "The longest time, in hours, any client resends a request under the same unique_id (spillway-forwarder: 168, shared/resend.Horizon; td-agent: its retry_timeout). The ledger TTL is derived from it (SPILLWAY_RESEND_HORIZON_HOURS)."
  type        = number
  default     = 168

  validation {
    condition     = var.resend_horizon_hours >= 0 && floor(var.resend_horizon_hours) == var.resend_horizon_hours
    error_message = "resend_horizon_hours must be a whole number of hours, 0 or more."
  }
}

variable "fanout" {
  description = "Fanout processing. commit_concurrency: tables whose DynamoDB transactions one invocation commits in parallel (SPILLWAY_COMMIT_CONCURRENCY); a table's own transactions always run in order. Transactions of different tables touch disjoint items, so DynamoDB runs them in parallel; the default, 8, matches fanout's parallel S3 puts."
  type = object({
    commit_concurrency = optional(number, 8)
  })
  default = {}

  validation {
    condition     = var.fanout.commit_concurrency >= 1 && floor(var.fanout.commit_concurrency) == var.fanout.commit_concurrency
    error_message = "fanout.commit_concurrency must be a whole number, 1 or more."
  }
}

variable "td_endpoints" {
  description = "Treasure-Data-compatible import API base URLs flush uploads to (SPILLWAY_TD_ENDPOINTS)."
  type        = list(string)
  default     = []
}

variable "td_apikeys" {
  description = "Initial value of the TD API key secret: endpoint URL -> API key. Leave empty to manage the secret value outside Terraform."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the TD API key secret on deletion (0 deletes at once)."
  type        = number
  default     = 30
}

variable "bucket" {
  description = "S3 bucket: name (default <prefix>-<account>-<region>), versioning, SSE-KMS key (default SSE-S3) and expiry days per prefix."
  type = object({
    name                   = optional(string)
    force_destroy          = optional(bool, false)
    versioning             = optional(bool, false)
    kms_key_arn            = optional(string)
    staged_expire_days     = optional(number, 7)
    late_expire_days       = optional(number, 30)
    quarantine_expire_days = optional(number, 90)
    failed_expire_days     = optional(number, 90)
  })
  default = {}
}

variable "dynamodb" {
  description = "DynamoDB tables: billing mode, point-in-time recovery, deletion protection."
  type = object({
    billing_mode           = optional(string, "PAY_PER_REQUEST")
    point_in_time_recovery = optional(bool, true)
    deletion_protection    = optional(bool, false)
    read_capacity          = optional(number, 5)
    write_capacity         = optional(number, 5)
  })
  default = {}
}

variable "alarms" {
  description = "CloudWatch alarms and dashboard; actions go to alarm_actions (e.g. SNS topic ARNs)."
  type = object({
    enabled                = optional(bool, true)
    dashboard              = optional(bool, true)
    alarm_actions          = optional(list(string), [])
    iterator_age_ms        = optional(number, 300000)
    on_failure_queue_depth = optional(number, 0)
    ingest_5xx_count       = optional(number, 10)
    period_seconds         = optional(number, 300)
  })
  default = {}
}
