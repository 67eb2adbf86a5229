output "api_id" {
  description = "HTTP API id."
  value       = aws_apigatewayv2_api.this.id
}

output "api_endpoint" {
  description = "HTTP API base URL (the TD import endpoint the forwarder uses)."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "api_execution_arn" {
  description = "HTTP API execution ARN (for IAM policies of SigV4 clients)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "rest_api_url" {
  description = "REST API invoke URL, stage included (https://<id>.execute-api.<region>.amazonaws.com/<stage>): the URL for shippers that compress JSON bodies; null when rest_api.enabled is false."
  value       = one(aws_api_gateway_stage.this[*].invoke_url)
}

output "rest_api_id" {
  description = "REST API id, or null when rest_api.enabled is false."
  value       = one(aws_api_gateway_rest_api.this[*].id)
}

output "rest_api_stage" {
  description = "REST API stage name (the first path segment of its URL), or null when rest_api.enabled is false."
  value       = one(aws_api_gateway_stage.this[*].stage_name)
}

output "stream_name" {
  description = "Kinesis stream name."
  value       = aws_kinesis_stream.this.name
}

output "stream_arn" {
  description = "Kinesis stream ARN."
  value       = aws_kinesis_stream.this.arn
}

output "bucket" {
  description = "S3 bucket name."
  value       = aws_s3_bucket.this.bucket
}

output "catalog_table" {
  description = "DynamoDB catalog table name."
  value       = aws_dynamodb_table.catalog.name
}

output "ledger_table" {
  description = "DynamoDB dedup ledger table name."
  value       = aws_dynamodb_table.ledger.name
}

output "manifest_table" {
  description = "DynamoDB manifests table name."
  value       = aws_dynamodb_table.manifests.name
}

output "apikeys_table" {
  description = "DynamoDB API keys table name."
  value       = aws_dynamodb_table.apikeys.name
}

output "function_names" {
  description = "Lambda function names by role: ingest, fanout, flush."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "function_arns" {
  description = "Lambda function ARNs by role: ingest, fanout, flush."
  value       = { for k, f in aws_lambda_function.this : k => f.arn }
}

output "role_arns" {
  description = "IAM role ARNs by function."
  value       = { for k, r in aws_iam_role.function : k => r.arn }
}

output "esm_uuid" {
  description = "UUID of the Kinesis -> fanout event source mapping."
  value       = aws_lambda_event_source_mapping.fanout.uuid
}

output "on_failure_queue_url" {
  description = "URL of the SQS queue receiving records the fanout ESM gave up on."
  value       = aws_sqs_queue.fanout_failures.url
}

output "on_failure_queue_arn" {
  description = "ARN of the fanout on-failure SQS queue."
  value       = aws_sqs_queue.fanout_failures.arn
}

output "flush_rule_name" {
  description = "EventBridge rule that schedules flush."
  value       = aws_cloudwatch_event_rule.flush.name
}

output "td_apikey_secret_arn" {
  description = "ARN of the Secrets Manager secret holding TD API keys by endpoint URL."
  value       = aws_secretsmanager_secret.td_apikeys.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard name, or null when disabled."
  value       = one(aws_cloudwatch_dashboard.this[*].dashboard_name)
}

output "iam_api_endpoint" {
  description = "Base URL of the SigV4 (AWS_IAM) ingest API, or null when api.iam_auth_api is false."
  value       = one(aws_apigatewayv2_api.iam[*].api_endpoint)
}

output "bucket_arn" {
  description = "S3 bucket ARN."
  value       = aws_s3_bucket.this.arn
}

output "table_arns" {
  description = "DynamoDB table ARNs by role: catalog, ledger, manifests, apikeys."
  value = {
    catalog   = aws_dynamodb_table.catalog.arn
    ledger    = aws_dynamodb_table.ledger.arn
    manifests = aws_dynamodb_table.manifests.arn
    apikeys   = aws_dynamodb_table.apikeys.arn
  }
}

output "role_names" {
  description = "IAM role names by function (to attach further policies)."
  value       = { for k, r in aws_iam_role.function : k => r.name }
}

output "log_group_arns" {
  description = "CloudWatch log group ARNs by function, plus api (null when access logs are off)."
  value       = merge({ for k, g in aws_cloudwatch_log_group.function : k => g.arn }, { api = one(aws_cloudwatch_log_group.api[*].arn) })
}

output "esm_arn" {
  description = "ARN of the Kinesis -> fanout event source mapping."
  value       = aws_lambda_event_source_mapping.fanout.arn
}

output "flush_rule_arn" {
  description = "ARN of the EventBridge rule that schedules flush."
  value       = aws_cloudwatch_event_rule.flush.arn
}

output "alarm_arns" {
  description = "CloudWatch alarm ARNs by name (empty when alarms are disabled)."
  value       = { for k, a in aws_cloudwatch_metric_alarm.this : k => a.arn }
}

output "iam_api_id" {
  description = "Id of the SigV4 (AWS_IAM) ingest API, or null when api.iam_auth_api is false."
  value       = one(aws_apigatewayv2_api.iam[*].id)
}

output "iam_api_execution_arn" {
  description = "Execution ARN of the SigV4 ingest API (for execute-api:Invoke policies of SigV4 clients), or null."
  value       = one(aws_apigatewayv2_api.iam[*].execution_arn)
}

output "custom_domain_target" {
  description = "Route 53 alias target of the custom domain: target_domain_name and hosted_zone_id (null without api.custom_domain)."
  value = one([for d in aws_apigatewayv2_domain_name.this : {
    domain_name        = d.domain_name
    target_domain_name = d.domain_name_configuration[0].target_domain_name
    hosted_zone_id     = d.domain_name_configuration[0].hosted_zone_id
  }])
}

output "kms_logs_key_policy_statement" {
  description = "The key policy statement kms.logs needs (CloudWatch Logs uses the key as the logs service principal, which no role can grant), as JSON; null without kms.logs."
  value = var.kms.logs == null ? null : jsonencode({
    Sid       = "AllowCloudWatchLogs${replace(var.name_prefix, "-", "")}"
    Effect    = "Allow"
    Principal = { Service = "logs.${local.region}.amazonaws.com" }
    Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    Resource  = "*"
    Condition = { ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*${var.name_prefix}*" } }
  })
}

output "lake_warehouse" {
  description = "S3 URL the Iceberg lake's tables live under (s3://<bucket>/<lake.prefix>), or \"\" when the lake is disabled. Table db.t is the Glue table t in the Glue database db."
  value       = local.lake_warehouse
}

output "athena_workgroup" {
  description = "Athena workgroup for querying the lake (results under s3://<bucket>/<lake.athena_results_prefix>/), or null."
  value       = try(aws_athena_workgroup.this[0].name, null)
}
