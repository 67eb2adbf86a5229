output "api_id" {
  description = "HTTP API id."
  value       = module.spillway.api_id
}

output "api_endpoint" {
  description = "HTTP API base URL as the emulator reports it."
  value       = module.spillway.api_endpoint
}

output "rest_api_id" {
  description = "REST API id (binary media types */*), or null when disabled."
  value       = module.spillway.rest_api_id
}

output "rest_api_stage" {
  description = "REST API stage name, or null when disabled."
  value       = module.spillway.rest_api_stage
}

output "stream_name" {
  description = "Kinesis stream name."
  value       = module.spillway.stream_name
}

output "stream_arn" {
  description = "Kinesis stream ARN."
  value       = module.spillway.stream_arn
}

output "bucket" {
  description = "S3 bucket name."
  value       = module.spillway.bucket
}

output "catalog_table" {
  description = "DynamoDB catalog table."
  value       = module.spillway.catalog_table
}

output "ledger_table" {
  description = "DynamoDB dedup ledger table."
  value       = module.spillway.ledger_table
}

output "manifest_table" {
  description = "DynamoDB manifests table."
  value       = module.spillway.manifest_table
}

output "apikeys_table" {
  description = "DynamoDB API keys table."
  value       = module.spillway.apikeys_table
}

output "function_names" {
  description = "Lambda function names: ingest, fanout, flush."
  value       = module.spillway.function_names
}

output "esm_uuid" {
  description = "Kinesis -> fanout event source mapping UUID."
  value       = module.spillway.esm_uuid
}

output "flush_rule_name" {
  description = "EventBridge rule scheduling flush."
  value       = module.spillway.flush_rule_name
}

output "td_apikey_secret_arn" {
  description = "Secrets Manager secret with TD API keys by endpoint."
  value       = module.spillway.td_apikey_secret_arn
}

output "on_failure_queue_url" {
  description = "SQS on-failure queue of the fanout ESM."
  value       = module.spillway.on_failure_queue_url
}

output "iam_api_endpoint" {
  description = "SigV4 ingest API base URL, or null when enable_iam_auth_api is false."
  value       = module.spillway.iam_api_endpoint
}

output "lake_warehouse" {
  description = "S3 URL of the Iceberg lake's warehouse, or \"\" when the lake is off."
  value       = module.spillway.lake_warehouse
}

output "athena_workgroup" {
  description = "Athena workgroup for the lake, or null."
  value       = module.spillway.athena_workgroup
}
