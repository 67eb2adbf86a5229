output "api_endpoint" {
  description = "Point the forwarder's TD output here."
  value       = module.spillway.api_endpoint
}

output "rest_api_url" {
  description = "Point shippers that compress JSON bodies here (Fluent Bit Format json + Compress gzip): the REST API delivers every body intact."
  value       = module.spillway.rest_api_url
}

output "td_apikey_secret_arn" {
  description = "Put {\"<endpoint>\": \"<apikey>\"} into this secret."
  value       = module.spillway.td_apikey_secret_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.spillway.dashboard_name
}

output "custom_domain_target" {
  description = "Route 53 alias target (target_domain_name, hosted_zone_id) of the custom domain."
  value       = module.spillway.custom_domain_target
}
