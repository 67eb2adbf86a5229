# Every knob of the module set explicitly: provisioned stream, tuned ESM,
# custom domain, a customer-managed KMS key for every service, functions in
# a VPC with code from S3, a permissions boundary, SigV4 callers scoped per
# database, alarms to SNS, x86_64 functions.

provider "aws" {
  region = var.region
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = "alias/aws/sns"
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

# One key for every service here (one per service works the same). The
# module grants the function roles what they need; the key policy delegates
# to IAM and lets CloudWatch Logs use the key for this deployment's groups.
resource "aws_kms_key" "this" {
  description         = "Spillway ${var.name_prefix}"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersAndDelegatesToIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*" # in a key policy, "*" is this key
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${data.aws_region.current.id}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = { ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}:log-group:*${var.name_prefix}*" } }
      },
    ]
  })
}

resource "aws_vpc" "this" {
  cidr_block = "10.42.0.0/16"
}

resource "aws_subnet" "this" {
  count = 2

  vpc_id     = aws_vpc.this.id
  cidr_block = cidrsubnet(aws_vpc.this.cidr_block, 8, count.index)
}

resource "aws_security_group" "functions" {
  name        = "${var.name_prefix}-functions"
  description = "Spillway functions: HTTPS out to AWS APIs and TD endpoints."
  vpc_id      = aws_vpc.this.id

  egress {
    description = "HTTPS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

module "spillway" {
  source = "../../modules/spillway"

  name_prefix  = var.name_prefix
  architecture = "x86_64"

  lambda_code_s3 = {
    bucket = var.code_bucket
    keys   = { for f in ["ingest", "fanout", "flush"] : f => "spillway/${var.code_version}/${f}-amd64.zip" }
  }
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

  kms = {
    s3       = aws_kms_key.this.arn
    kinesis  = aws_kms_key.this.arn
    dynamodb = aws_kms_key.this.arn
    sqs      = aws_kms_key.this.arn
    logs     = aws_kms_key.this.arn
    secrets  = aws_kms_key.this.arn
    lambda   = aws_kms_key.this.arn
  }

  vpc = {
    subnet_ids         = aws_subnet.this[*].id
    security_group_ids = [aws_security_group.functions.id]
  }

  iam = {
    role_path            = "/spillway/"
    permissions_boundary = var.permissions_boundary_arn
  }

  iam_principal_scopes = {
    "arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/web-shippers" = { databases = ["web_logs"], write = true }
    "arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/log-ops"      = { databases = ["*"], read = true, flush = true }
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
    versioning             = true
    quarantine_expire_days = 365
  }

  dynamodb = {
    deletion_protection = true
  }

  alarms = {
    sns_topic_arn       = aws_sns_topic.alarms.arn
    iterator_age_ms     = 120000
    evaluation_periods  = 5
    datapoints_to_alarm = 3
  }
}
