# Every knob of the module set explicitly: provisioned stream, tuned ESM,
# custom domain, KMS everywhere, alarms to SNS, x86_64 functions.

provider "aws" {
  region = var.region
}

resource "aws_sns_topic" "alarms" {
  name = "${var.name_prefix}-alarms"
}

resource "aws_kms_key" "this" {
  description         = "Spillway ${var.name_prefix}: S3 objects"
  enable_key_rotation = true
}

module "spillway" {
  source = "../../modules/spillway"

  name_prefix        = var.name_prefix
  lambda_package_dir = var.lambda_package_dir
  architecture       = "x86_64"
  auth_mode          = "apikey"
  auto_create        = true
  log_level          = "info"
  log_retention_days = 30
  tracing_enabled    = true
  td_endpoints       = var.td_endpoints

  tags = {
    team = "logging"
  }

  functions = {
    ingest = { memory_size = 1024, timeout = 29, reserved_concurrency = 200 }
    fanout = { memory_size = 2048, timeout = 300 }
    flush  = { memory_size = 3008, timeout = 900, reserved_concurrency = 2 }
  }

  stream = {
    mode            = "PROVISIONED"
    shard_count     = 8
    retention_hours = 72
  }

  event_source_mapping = {
    batch_size                      = 500
    maximum_batching_window_seconds = 2
    parallelization_factor          = 4
    maximum_retry_attempts          = 20
    maximum_record_age_seconds      = 21600
  }

  api = {
    throttling_burst_limit = 2000
    throttling_rate_limit  = 5000
    iam_auth_api           = true
    custom_domain = var.domain_name == null ? null : {
      domain_name     = var.domain_name
      certificate_arn = var.certificate_arn
    }
  }

  flush = {
    schedule_expression = "rate(2 minutes)"
    seal_target_bytes   = 268435456
    late_window         = "3h"
    future_limit        = "30m"
    ledger_ttl_hours    = 336 # above the derived minimum: 168 + 72 + 24 = 264
  }

  bucket = {
    versioning         = true
    kms_key_arn        = aws_kms_key.this.arn
    staged_expire_days = 3
  }

  dynamodb = {
    deletion_protection = true
  }

  alarms = {
    alarm_actions   = [aws_sns_topic.alarms.arn]
    iterator_age_ms = 120000
  }
}
