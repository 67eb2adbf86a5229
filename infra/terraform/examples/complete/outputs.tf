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
