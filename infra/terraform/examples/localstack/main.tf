# Spillway on LocalStack (docker compose, edge port 4566, test credentials).
# The same root module as examples/local - provider endpoints, test
# credentials, module call - with LocalStack's defaults; only what differs
# is set here.

module "local" {
  source = "../local"

  endpoint                  = var.endpoint
  name_prefix               = var.name_prefix
  lambda_package_dir        = var.lambda_package_dir
  architecture              = var.architecture
  td_endpoints              = var.td_endpoints
  td_apikeys                = var.td_apikeys
  enable_kinesis_encryption = var.enable_kinesis_encryption
  enable_alarms             = var.enable_alarms
  enable_dashboard          = var.enable_dashboard
}
