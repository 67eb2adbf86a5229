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

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")])
    error_message = "tags: keys 1-128 characters, not starting with aws:, values at most 256 characters."
  }
}

variable "lambda_package_dir" {
  description = "Directory holding the function zips as `make build` writes them: <name>-<arch>.zip (e.g. dist/ingest-arm64.zip). Null when lambda_code_s3 is given."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_package_dir == null || length(trimspace(coalesce(var.lambda_package_dir, " "))) > 0
    error_message = "lambda_package_dir must be a directory path or null."
  }
}

variable "lambda_code_s3" {
  description = "Function code from S3 instead of lambda_package_dir: bucket, key per function (ingest, fanout, flush; the zips `make build` writes) and optional object versions. Exactly one of lambda_package_dir and lambda_code_s3 must be set."
  type = object({
    bucket          = string
    keys            = map(string)
    object_versions = optional(map(string), {})
  })
  default = null

  validation {
    condition     = var.lambda_code_s3 == null ? true : (can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.lambda_code_s3.bucket)) && toset(keys(var.lambda_code_s3.keys)) == toset(["ingest", "fanout", "flush"]) && alltrue([for k in keys(var.lambda_code_s3.object_versions) : contains(["ingest", "fanout", "flush"], k)]))
    error_message = "lambda_code_s3: bucket must be an S3 bucket name, keys must name exactly ingest, fanout and flush, object_versions only those."
  }
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
      reserved_concurrency = optional(number, 10)
    }), {})
  })
  default = {}

  validation {
    condition = alltrue([for f in [var.functions.ingest, var.functions.fanout, var.functions.flush] :
    f.memory_size >= 128 && f.memory_size <= 10240 && f.timeout >= 1 && f.timeout <= 900 && f.reserved_concurrency >= -1 && floor(f.reserved_concurrency) == f.reserved_concurrency])
    error_message = "functions.*: memory_size 128-10240 MB, timeout 1-900 s, reserved_concurrency -1 (unreserved) or a whole number >= 0."
  }

  validation {
    condition     = var.functions.ingest.timeout <= 29
    error_message = "functions.ingest.timeout must be at most 29 s: API Gateway HTTP APIs time out at 30 s."
  }
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

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653; 0 = never expire)."
  }
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
  description = "Kinesis data stream. mode ON_DEMAND or PROVISIONED (shard_count used only then); retention 24-8760 h; encryption enables KMS SSE with kms.kinesis (default the AWS managed alias/aws/kinesis); tagged=false leaves the stream untagged (moto 5.2 ignores tags given to CreateStream, so plans would never settle)."
  type = object({
    mode            = optional(string, "ON_DEMAND")
    shard_count     = optional(number, 1)
    retention_hours = optional(number, 24)
    encryption      = optional(bool, true)
    tagged          = optional(bool, true)
  })
  default = {}

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream.mode)
    error_message = "stream.mode must be ON_DEMAND or PROVISIONED."
  }

  validation {
    condition     = var.stream.retention_hours >= 24 && var.stream.retention_hours <= 8760 && var.stream.shard_count >= 1 && floor(var.stream.shard_count) == var.stream.shard_count
    error_message = "stream.retention_hours must be 24-8760 and stream.shard_count a whole number >= 1."
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

  validation {
    condition = (var.event_source_mapping.batch_size >= 1 && var.event_source_mapping.batch_size <= 10000 &&
      var.event_source_mapping.maximum_batching_window_seconds >= 0 && var.event_source_mapping.maximum_batching_window_seconds <= 300 &&
      var.event_source_mapping.parallelization_factor >= 1 && var.event_source_mapping.parallelization_factor <= 10 &&
      var.event_source_mapping.maximum_retry_attempts >= -1 && var.event_source_mapping.maximum_retry_attempts <= 10000 &&
      var.event_source_mapping.maximum_record_age_seconds >= 60 && var.event_source_mapping.maximum_record_age_seconds <= 604800 &&
      contains(["TRIM_HORIZON", "LATEST"], var.event_source_mapping.starting_position) &&
    var.event_source_mapping.on_failure_queue_retention_s >= 60 && var.event_source_mapping.on_failure_queue_retention_s <= 1209600)
    error_message = "event_source_mapping: batch_size 1-10000, maximum_batching_window_seconds 0-300, parallelization_factor 1-10, maximum_retry_attempts -1-10000, maximum_record_age_seconds 60-604800, starting_position TRIM_HORIZON or LATEST, on_failure_queue_retention_s 60-1209600."
  }
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

  validation {
    condition     = var.api.throttling_burst_limit >= 0 && var.api.throttling_rate_limit >= 0
    error_message = "api.throttling_burst_limit and api.throttling_rate_limit must not be negative."
  }

  validation {
    condition     = var.api.custom_domain == null || (can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.api.custom_domain.domain_name)) && can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.api.custom_domain.certificate_arn)))
    error_message = "api.custom_domain: domain_name must be a lower-case DNS name and certificate_arn an ACM certificate ARN."
  }
}

variable "rest_api" {
  description = "REST API (API Gateway v1) front for ingest, on by default: binary_media_types [\"*/*\"] deliver every body intact, so compressed JSON (Fluent Bit Format json + Compress gzip) works; the HTTP API mangles it. Both fronts serve the same routes through the same function and bill per request only (us-east-1: REST $3.50, HTTP API $1.00 per million, the HTTP API per 512 KB). stage_name is the first path segment of its URL; stage throttling; access logs (JSON, as the HTTP API's), which need the region's API Gateway CloudWatch role: manage_account_logging_role sets it (an account-wide setting; false when something else manages it)."
  type = object({
    enabled                     = optional(bool, true)
    stage_name                  = optional(string, "ingest")
    throttling_burst_limit      = optional(number, 1000)
    throttling_rate_limit       = optional(number, 2000)
    access_logs                 = optional(bool, true)
    manage_account_logging_role = optional(bool, true)
  })
  default = {}

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,128}$", var.rest_api.stage_name)) && var.rest_api.throttling_burst_limit >= 0 && var.rest_api.throttling_rate_limit >= 0
    error_message = "rest_api: stage_name must be 1-128 of [a-zA-Z0-9_-]; throttling limits must not be negative."
  }
}

variable "flush" {
  description = "Flush schedule and sealing: EventBridge schedule expression (the safety net: fanout asks for flushes itself), seal_after (fanout asks for a flush of a table once its oldest unsealed commit is this old: 30s batches sealed objects and TD imports to about two a minute per table; 0s is the low-latency setting), sweep_every (a scheduled run passes over the tables again this often within its first 50 s while there is work, so the last commits before traffic stops are not left for the next minute; 30s; 10s in the low-latency setting; 0s passes once), target sealed object size (64 MiB), late window and future limit (Go durations), ledger TTL in hours. Defaults equal the Go DefaultConfig values (a test checks). ledger_ttl_hours defaults to resend_horizon_hours + stream.retention_hours + 24 (216 with the defaults); a smaller value fails the plan."
  type = object({
    schedule_expression = optional(string, "rate(1 minute)")
    seal_after          = optional(string, "30s")
    sweep_every         = optional(string, "30s")
    seal_target_bytes   = optional(number, 67108864)
    late_window         = optional(string, "10m")
    future_limit        = optional(string, "1h")
    ledger_ttl_hours    = optional(number)
  })
  default = {}

  validation {
    condition     = can(regex("^(rate\\([0-9]+ (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.flush.schedule_expression)) && (var.flush.ledger_ttl_hours == null || try(var.flush.ledger_ttl_hours >= 1, false))
    error_message = "flush.schedule_expression must be rate(N unit) or cron(...); flush.ledger_ttl_hours, when set, at least 1."
  }

  validation {
    condition     = var.flush.seal_target_bytes > 0 && can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.flush.seal_after)) && can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.flush.sweep_every)) && can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.flush.late_window)) && can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.flush.future_limit))
    error_message = "flush.seal_target_bytes must be positive; flush.seal_after, flush.sweep_every, flush.late_window and flush.future_limit must be Go durations such as 30s, 10m or 1h."
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
  description = "Fanout processing. commit_concurrency: tables whose DynamoDB transactions one invocation commits in parallel (SPILLWAY_COMMIT_CONCURRENCY); a table's own transactions always run in order. Transactions of different tables touch disjoint items, so DynamoDB runs them in parallel; the default, 8, matches fanout's parallel S3 puts. counter_items: catalog counter items each table's counts are spread over (SPILLWAY_COUNTER_ITEMS, 1 to 1000): every commit adds to one of them, so concurrent commits of a busy table rarely meet on an item (TransactionConflict). Readers sum every counter item a table has, whatever this setting, so it can be changed at any time. The default, 64, met 163 conflicts per 1,000 commits and no failed batch with 16 concurrent invocations of one table, where 16 items met 679 and 1 item 12,233 (BENCHMARKS.md, Hot table); the price is on reads: a table's count is one Query of up to 65 small items (about 100 bytes each: some 6 KB, 2 strongly consistent RCU instead of 1), and listing a database reads up to 65 items per table. Writes cost the same whatever the setting."
  type = object({
    commit_concurrency = optional(number, 8)
    counter_items      = optional(number, 64)
  })
  default = {}

  validation {
    condition     = var.fanout.commit_concurrency >= 1 && floor(var.fanout.commit_concurrency) == var.fanout.commit_concurrency
    error_message = "fanout.commit_concurrency must be a whole number, 1 or more."
  }

  validation {
    condition     = var.fanout.counter_items >= 1 && var.fanout.counter_items <= 1000 && floor(var.fanout.counter_items) == var.fanout.counter_items
    error_message = "fanout.counter_items must be a whole number from 1 to 1000."
  }
}

variable "td_endpoints" {
  description = "Treasure-Data-compatible import API base URLs flush uploads to (SPILLWAY_TD_ENDPOINTS)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for u in var.td_endpoints : can(regex("^https?://[^/?#\\s]+(/[^?#\\s]*)?$", u))])
    error_message = "td_endpoints must be http(s) base URLs without query or fragment."
  }
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

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or 7-30."
  }
}

variable "bucket" {
  description = "S3 bucket: name (default <prefix>-<account>-<region>), versioning, and optional expiry days for quarantine/ and failed/ (default: never; they hold the bytes `spillway replay` puts back). staged/ and late/ never expire: flush deletes them once sealed. SSE-KMS with kms.s3 when given (default SSE-S3)."
  type = object({
    name                   = optional(string)
    force_destroy          = optional(bool, false)
    versioning             = optional(bool, false)
    quarantine_expire_days = optional(number)
    failed_expire_days     = optional(number)
  })
  default = {}

  validation {
    condition     = (var.bucket.name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket.name))) && alltrue([for d in [var.bucket.quarantine_expire_days, var.bucket.failed_expire_days] : d == null || try(d >= 1 && floor(d) == d, false)])
    error_message = "bucket.name must be an S3 bucket name (3-63 of [a-z0-9.-]); the *_expire_days, when set, whole numbers >= 1."
  }
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

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.dynamodb.billing_mode) && var.dynamodb.read_capacity >= 1 && var.dynamodb.write_capacity >= 1
    error_message = "dynamodb.billing_mode must be PAY_PER_REQUEST or PROVISIONED; read_capacity and write_capacity at least 1."
  }
}

variable "alarms" {
  description = "CloudWatch alarms and dashboard. Actions go to sns_topic_arn and alarm_actions (ARNs), on ALARM and on OK. Noisy metrics alarm when datapoints_to_alarm of evaluation_periods periods breach (M of N); loss-related ones (quarantine, failed imports, on-failure queue, staged objects flush found missing: MissingStagedObjects) on the first datapoint. flush_stalled_periods: periods without a completed flush run before flush_freshness alarms. staged_age_s: the oldest committed event a flush run finds unsealed (flush's OldestStagedSeconds); td_backlog_age_s: per TD endpoint, the oldest sealed object it has not imported (OldestUnimportedSeconds)."
  type = object({
    enabled                = optional(bool, true)
    dashboard              = optional(bool, true)
    sns_topic_arn          = optional(string)
    alarm_actions          = optional(list(string), [])
    iterator_age_ms        = optional(number, 300000)
    on_failure_queue_depth = optional(number, 0)
    on_failure_queue_age_s = optional(number, 3600)
    ingest_5xx_count       = optional(number, 10)
    ingest_rejected_count  = optional(number, 100)
    period_seconds         = optional(number, 300)
    evaluation_periods     = optional(number, 3)
    datapoints_to_alarm    = optional(number, 2)
    flush_stalled_periods  = optional(number, 3)
    staged_age_s           = optional(number, 300)
    td_backlog_age_s       = optional(number, 900)
  })
  default = {}

  validation {
    condition = (var.alarms.period_seconds >= 60 && var.alarms.period_seconds % 60 == 0 &&
      var.alarms.evaluation_periods >= 1 && var.alarms.datapoints_to_alarm >= 1 && var.alarms.datapoints_to_alarm <= var.alarms.evaluation_periods &&
      var.alarms.flush_stalled_periods >= 1 && var.alarms.iterator_age_ms >= 0 && var.alarms.on_failure_queue_depth >= 0 &&
    var.alarms.on_failure_queue_age_s >= 0 && var.alarms.ingest_5xx_count >= 0 && var.alarms.ingest_rejected_count >= 0 && var.alarms.staged_age_s >= 60 && var.alarms.td_backlog_age_s >= 60)
    error_message = "alarms: period_seconds a multiple of 60, 1 <= datapoints_to_alarm <= evaluation_periods, flush_stalled_periods >= 1, thresholds not negative."
  }

  validation {
    condition     = alltrue([for a in concat(var.alarms.alarm_actions, var.alarms.sns_topic_arn == null ? [] : [var.alarms.sns_topic_arn]) : can(regex("^arn:aws[a-z-]*:", a))])
    error_message = "alarms.sns_topic_arn and alarms.alarm_actions must be ARNs."
  }
}

variable "kms" {
  description = "Customer-managed KMS key ARNs (null = AWS owned / AWS managed keys): s3 (bucket SSE-KMS with bucket keys), kinesis (stream SSE), dynamodb (all four tables), sqs (on-failure queue), logs (function and API log groups; its key policy must allow logs.<region>.amazonaws.com, see README), secrets (TD API key secret), lambda (function environments). Each function's role gets exactly the kms: actions its calls need on exactly these keys."
  type = object({
    s3       = optional(string)
    kinesis  = optional(string)
    dynamodb = optional(string)
    sqs      = optional(string)
    logs     = optional(string)
    secrets  = optional(string)
    lambda   = optional(string)
  })
  default = {}

  validation {
    condition     = alltrue([for k in [var.kms.s3, var.kms.kinesis, var.kms.dynamodb, var.kms.sqs, var.kms.logs, var.kms.secrets, var.kms.lambda] : k == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$", k))])
    error_message = "kms.*: key ARNs (arn:aws:kms:<region>:<account>:key/<id>), not aliases: IAM statements name keys by ARN."
  }
}

variable "vpc" {
  description = "Run the functions in a VPC: subnet_ids and security_group_ids (the subnets need a route to the AWS APIs, e.g. VPC endpoints or a NAT). Null = no VPC."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null

  validation {
    condition     = var.vpc == null ? true : (length(var.vpc.subnet_ids) > 0 && length(var.vpc.security_group_ids) > 0 && alltrue([for s in var.vpc.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))]) && alltrue([for g in var.vpc.security_group_ids : can(regex("^sg-[0-9a-f]+$", g))]))
    error_message = "vpc: at least one subnet-... id and one sg-... id."
  }
}

variable "iam" {
  description = "IAM settings of the three function roles: role_path and an optional permissions_boundary policy ARN."
  type = object({
    role_path            = optional(string, "/")
    permissions_boundary = optional(string)
  })
  default = {}

  validation {
    condition     = can(regex("^/([\\x21-\\x7E]{1,510}/)?$", var.iam.role_path)) && (var.iam.permissions_boundary == null || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$", var.iam.permissions_boundary)))
    error_message = "iam.role_path must start and end with / (e.g. /spillway/); iam.permissions_boundary must be an IAM policy ARN."
  }
}

variable "iam_principal_scopes" {
  description = "SigV4 (AWS_IAM) callers -> what they may do, like an API key's scope (SPILLWAY_IAM_SCOPES): principal ARN (IAM user, IAM role - matched by its assumed-role sessions, path ignored - or \"*\" for any other caller) -> databases (names or \"*\") and read / write / flush. Callers not listed are refused (403)."
  type = map(object({
    databases = list(string)
    read      = optional(bool, false)
    write     = optional(bool, false)
    flush     = optional(bool, false)
  }))
  default = {}

  validation {
    condition = alltrue([for p, s in var.iam_principal_scopes :
      (p == "*" || can(regex("^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:.+$", p))) && length(s.databases) > 0 &&
    alltrue([for d in s.databases : d == "*" || can(regex("^[a-z0-9_]{3,255}$", d))]) && (s.read || s.write || s.flush)])
    error_message = "iam_principal_scopes: keys are IAM/STS principal ARNs or \"*\"; each scope names databases ([a-z0-9_]{3,255} or \"*\") and at least one of read, write, flush."
  }
}

variable "lake" {
  description = "The Iceberg lake (docs/QUERY.md): flush appends every sealed object to the Apache Iceberg table <db>.<table> in the Glue Data Catalog (one Glue database per Spillway database, named like it), with Parquet data files under s3://<bucket>/<prefix> (SPILLWAY_LAKE_WAREHOUSE; disabled sets it empty). glue_database_pattern scopes flush's Glue permissions to the Glue databases (Spillway databases) it matches, an IAM resource pattern such as \"prod_*\" (default: every database of the account's catalog). athena_workgroup creates an Athena workgroup (engine v3) whose query results go to s3://<bucket>/<athena_results_prefix>, expiring after athena_results_expire_days. The lake's backlog is alarmed on like a TD endpoint's (Endpoint \"lake\", alarms.td_backlog_age_s). Maintenance (scheduled flush runs, at most hourly per table): snapshots older than snapshot_age are expired (SPILLWAY_LAKE_SNAPSHOT_AGE, Iceberg's 5-day default; every commit adds one, so metadata grows with snapshot_age x commit rate: see BENCHMARKS.md), keeping the keep_snapshots newest (SPILLWAY_LAKE_KEEP_SNAPSHOTS) and any whose seal a live flush manifest may still need; files no snapshot references are looked for daily and deleted once older than orphan_age (SPILLWAY_LAKE_ORPHAN_AGE, Iceberg's 3-day default, at least 1h so that commits in flight keep their files). Compaction (scheduled flush runs, closed hours) rewrites an hour's small files in groups of at most compact_max_rows rows, one commit each (SPILLWAY_LAKE_COMPACT_MAX_ROWS): a rewrite's memory grows with its rows, ~0.2 KiB of Go heap per row (BENCHMARKS.md), so the default 200,000 rows (~60 MiB) suits flush's default memory."
  type = object({
    enabled                    = optional(bool, true)
    prefix                     = optional(string, "lake")
    glue_database_pattern      = optional(string, "*")
    athena_workgroup           = optional(bool, true)
    athena_results_prefix      = optional(string, "athena-results")
    athena_results_expire_days = optional(number, 7)
    snapshot_age               = optional(string, "120h")
    keep_snapshots             = optional(number, 1)
    orphan_age                 = optional(string, "72h")
    compact_max_rows           = optional(number, 200000)
  })
  default = {}

  validation {
    condition = (can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$", var.lake.prefix)) && can(regex("^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$", var.lake.athena_results_prefix)) &&
      !contains(["staged", "late", "data", "failed", "quarantine", var.lake.athena_results_prefix], split("/", var.lake.prefix)[0]) &&
      !contains(["staged", "late", "data", "failed", "quarantine"], split("/", var.lake.athena_results_prefix)[0]) &&
      can(regex("^[a-z0-9_*?]{1,255}$", var.lake.glue_database_pattern)) &&
    var.lake.athena_results_expire_days >= 1 && can(regex("^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$", var.lake.snapshot_age)) && var.lake.keep_snapshots >= 1 && floor(var.lake.keep_snapshots) == var.lake.keep_snapshots && can(regex("^[0-9]+(\\.[0-9]+)?h$", var.lake.orphan_age)) && try(tonumber(trimsuffix(var.lake.orphan_age, "h")) >= 1, false) && var.lake.compact_max_rows >= 1 && floor(var.lake.compact_max_rows) == var.lake.compact_max_rows)
    error_message = "lake.prefix and lake.athena_results_prefix must be distinct S3 key prefixes (lower-case segments, no leading or trailing /) outside staged/, late/, data/, failed/ and quarantine/; lake.glue_database_pattern is a pattern of Spillway database names ([a-z0-9_] with * and ?); lake.athena_results_expire_days at least 1; lake.snapshot_age a Go duration such as 120h; lake.keep_snapshots a whole number, at least 1; lake.orphan_age whole or decimal hours such as 72h, at least 1h; lake.compact_max_rows a whole number, at least 1."
  }
}
