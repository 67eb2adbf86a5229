# Spillway on the local cloud: every AWS endpoint is var.endpoint (the
# LocalStack-compatible edge, or moto directly), test credentials.

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = false # ARNs the provider builds itself (Athena workgroups) carry the account
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    apigateway     = var.endpoint
    apigatewayv2   = var.endpoint
    athena         = var.endpoint
    cloudwatch     = var.endpoint
    cloudwatchlogs = var.endpoint
    dynamodb       = var.endpoint
    eventbridge    = var.endpoint
    glue           = var.endpoint
    iam            = var.endpoint
    kinesis        = var.endpoint
    kms            = var.endpoint
    lambda         = var.endpoint
    s3             = var.endpoint
    secretsmanager = var.endpoint
    sqs            = var.endpoint
    sts            = var.endpoint
  }
}

module "spillway" {
  source = "../../modules/spillway"

  name_prefix        = var.name_prefix
  lambda_package_dir = var.lambda_package_dir
  architecture       = var.architecture
  auto_create        = var.auto_create
  log_level          = var.log_level
  td_endpoints       = var.td_endpoints
  td_apikeys         = var.td_apikeys

  secret_recovery_window_days = 0

  stream = {
    mode        = var.stream_shards == null ? "ON_DEMAND" : "PROVISIONED"
    shard_count = coalesce(var.stream_shards, 1)
    encryption  = var.enable_kinesis_encryption
    # moto 5.2 drops the Tags of CreateStream; tagging would never converge.
    tagged = false
  }

  flush = {
    schedule_expression = var.flush_schedule_expression
    seal_after          = var.seal_after
    sweep_every         = var.sweep_every
  }

  event_source_mapping = {
    maximum_batching_window_seconds = var.esm_maximum_batching_window_seconds
    parallelization_factor          = var.esm_parallelization_factor
  }

  bucket = {
    force_destroy = true
  }

  dynamodb = {
    point_in_time_recovery = var.enable_point_in_time_recovery
  }

  api = {
    iam_auth_api = var.enable_iam_auth_api
  }

  lake = {
    enabled = var.enable_lake
  }

  alarms = {
    enabled   = var.enable_alarms
    dashboard = var.enable_dashboard
  }
}
