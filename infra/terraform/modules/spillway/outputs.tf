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
