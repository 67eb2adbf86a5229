output "api_endpoint" {
  description = "Point the forwarder's TD output here."
  value       = module.spillway.api_endpoint
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
