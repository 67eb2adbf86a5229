# The three Lambda functions. Their environment is exactly
# shared/lambdaenv.ByFunction (a Go test in infra/terraform checks it).

# Settings derived from others, by the same rules as the Go code (a Go test
# in infra/terraform evaluates them against shared/resend).
locals {
  # A ledger entry must outlive every resend of its part: a client resends
  # for up to resend_horizon_hours, the resend waits in Kinesis for up to
  # the stream retention, plus a day of margin (shared/resend.LedgerMargin).
  ledger_ttl_margin_hours = 24
  ledger_ttl_min_hours    = var.resend_horizon_hours + var.stream.retention_hours + local.ledger_ttl_margin_hours
  ledger_ttl_hours        = coalesce(var.flush.ledger_ttl_hours, local.ledger_ttl_min_hours)

  # The ESM gives up on a record at least this long before Kinesis drops
  # it, so that the on-failure pointer can still be replayed from the stream.
  esm_record_age_margin_seconds = 21600
}

locals {
  function_environment = {
    ingest = {
      SPILLWAY_LOG_LEVEL      = var.log_level
      SPILLWAY_STREAM_NAME    = aws_kinesis_stream.this.name
      SPILLWAY_CATALOG_TABLE  = aws_dynamodb_table.catalog.name
      SPILLWAY_APIKEYS_TABLE  = aws_dynamodb_table.apikeys.name
      SPILLWAY_FLUSH_FUNCTION = local.function_names.flush
      SPILLWAY_AUTO_CREATE    = tostring(var.auto_create)
      SPILLWAY_AUTH_MODE      = var.auth_mode
      SPILLWAY_IAM_SCOPES     = jsonencode(var.iam_principal_scopes)
    }
    fanout = {
      SPILLWAY_LOG_LEVEL              = var.log_level
      SPILLWAY_BUCKET                 = aws_s3_bucket.this.bucket
      SPILLWAY_CATALOG_TABLE          = aws_dynamodb_table.catalog.name
      SPILLWAY_LEDGER_TABLE           = aws_dynamodb_table.ledger.name
      SPILLWAY_MANIFEST_TABLE         = aws_dynamodb_table.manifests.name
      SPILLWAY_AUTO_CREATE            = tostring(var.auto_create)
      SPILLWAY_LEDGER_TTL_HOURS       = tostring(local.ledger_ttl_hours)
      SPILLWAY_RESEND_HORIZON_HOURS   = tostring(var.resend_horizon_hours)
      SPILLWAY_STREAM_RETENTION_HOURS = tostring(var.stream.retention_hours)
      SPILLWAY_COMMIT_CONCURRENCY     = tostring(var.fanout.commit_concurrency)
      SPILLWAY_COUNTER_ITEMS          = tostring(var.fanout.counter_items)
      SPILLWAY_LATE_WINDOW            = var.flush.late_window
      SPILLWAY_FUTURE_LIMIT           = var.flush.future_limit
      SPILLWAY_FLUSH_FUNCTION         = local.function_names.flush
      SPILLWAY_SEAL_AFTER             = var.flush.seal_after
    }
    flush = {
      SPILLWAY_LOG_LEVEL             = var.log_level
      SPILLWAY_BUCKET                = aws_s3_bucket.this.bucket
      SPILLWAY_CATALOG_TABLE         = aws_dynamodb_table.catalog.name
      SPILLWAY_MANIFEST_TABLE        = aws_dynamodb_table.manifests.name
      SPILLWAY_LEDGER_TABLE          = aws_dynamodb_table.ledger.name
      SPILLWAY_TD_ENDPOINTS          = join(",", var.td_endpoints)
      SPILLWAY_TD_APIKEY_SECRET      = aws_secretsmanager_secret.td_apikeys.arn
      SPILLWAY_SEAL_TARGET_BYTES     = tostring(var.flush.seal_target_bytes)
      SPILLWAY_LATE_WINDOW           = var.flush.late_window
      SPILLWAY_SWEEP_EVERY           = var.flush.sweep_every
      SPILLWAY_LAKE_WAREHOUSE        = local.lake_warehouse
      SPILLWAY_LAKE_SNAPSHOT_AGE     = var.lake.snapshot_age
      SPILLWAY_LAKE_KEEP_SNAPSHOTS   = tostring(var.lake.keep_snapshots)
      SPILLWAY_LAKE_ORPHAN_AGE       = var.lake.orphan_age
      SPILLWAY_LAKE_COMPACT_MAX_ROWS = tostring(var.lake.compact_max_rows)
    }
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.function_names

  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms.logs
  tags              = local.tags
}

resource "aws_lambda_function" "this" {
  for_each = local.function_names

  function_name = each.value
  role          = aws_iam_role.function[each.key].arn
  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.architecture]
  kms_key_arn   = var.kms.lambda

  # Code: a local zip from `make build`, or an object in S3.
  filename          = var.lambda_code_s3 == null ? "${var.lambda_package_dir}/${each.key}-${local.arch_suffix}.zip" : null
  source_code_hash  = var.lambda_code_s3 == null ? filebase64sha256("${var.lambda_package_dir}/${each.key}-${local.arch_suffix}.zip") : null
  s3_bucket         = try(var.lambda_code_s3.bucket, null)
  s3_key            = try(var.lambda_code_s3.keys[each.key], null)
  s3_object_version = try(var.lambda_code_s3.object_versions[each.key], null)

  memory_size                    = local.function_settings[each.key].memory_size
  timeout                        = local.function_settings[each.key].timeout
  reserved_concurrent_executions = local.function_settings[each.key].reserved_concurrency

  environment {
    variables = local.function_environment[each.key]
  }

  dynamic "vpc_config" {
    for_each = var.vpc == null ? [] : [var.vpc]
    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  lifecycle {
    precondition {
      condition     = local.ledger_ttl_hours >= local.ledger_ttl_min_hours
      error_message = "flush.ledger_ttl_hours = ${local.ledger_ttl_hours} is shorter than resend_horizon_hours + stream.retention_hours + ${local.ledger_ttl_margin_hours} = ${local.ledger_ttl_min_hours}: late resends would be stored twice."
    }
    precondition {
      condition     = (var.lambda_package_dir == null) != (var.lambda_code_s3 == null)
      error_message = "Set exactly one of lambda_package_dir (local zips) and lambda_code_s3 (code in S3)."
    }
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  tags = local.tags

  depends_on = [
    aws_cloudwatch_log_group.function,
    aws_iam_role_policy.function,
    aws_iam_role_policy_attachment.vpc,
  ]
}

# Kinesis -> fanout with partial batch responses, bisect and an SQS on-failure
# destination.
resource "aws_lambda_event_source_mapping" "fanout" {
  event_source_arn  = aws_kinesis_stream.this.arn
  function_name     = aws_lambda_function.this["fanout"].arn
  starting_position = var.event_source_mapping.starting_position

  batch_size                         = var.event_source_mapping.batch_size
  maximum_batching_window_in_seconds = var.event_source_mapping.maximum_batching_window_seconds
  parallelization_factor             = var.event_source_mapping.parallelization_factor
  bisect_batch_on_function_error     = var.event_source_mapping.bisect_batch_on_function_error
  maximum_retry_attempts             = var.event_source_mapping.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.event_source_mapping.maximum_record_age_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  lifecycle {
    precondition {
      condition     = var.event_source_mapping.maximum_record_age_seconds >= 60 && var.event_source_mapping.maximum_record_age_seconds <= var.stream.retention_hours * 3600 - local.esm_record_age_margin_seconds
      error_message = "event_source_mapping.maximum_record_age_seconds must be 60 or more and at most stream.retention_hours * 3600 - ${local.esm_record_age_margin_seconds} (${var.stream.retention_hours * 3600 - local.esm_record_age_margin_seconds}), so that given-up records can still be replayed from the stream (-1, no limit, is refused for the same reason)."
    }
  }

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.fanout_failures.arn
    }
  }

  tags = local.tags

  depends_on = [aws_iam_role_policy.function]
}

resource "aws_sqs_queue" "fanout_failures" {
  name                      = "${var.name_prefix}-fanout-failures"
  message_retention_seconds = var.event_source_mapping.on_failure_queue_retention_s
  # SSE-SQS, or SSE-KMS with kms.sqs (the two are exclusive).
  sqs_managed_sse_enabled = var.kms.sqs == null ? true : null
  kms_master_key_id       = var.kms.sqs
  tags                    = local.tags
}

# ingest may invoke flush (POST /v1/flush) through its IAM policy; API Gateway
# invokes ingest through this permission.
resource "aws_lambda_permission" "api" {
  statement_id  = "AllowAPIGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["ingest"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
