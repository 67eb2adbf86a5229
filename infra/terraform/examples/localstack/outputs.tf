output "spillway" {
  description = "Every output of examples/local (API URL, stream, bucket, tables, functions, ...) as one object."
  value       = module.local
}

output "api_endpoint" {
  description = "HTTP API base URL as LocalStack reports it."
  value       = module.local.api_endpoint
}
