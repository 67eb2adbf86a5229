# The smallest Spillway deployment: defaults everywhere, one TD endpoint.

provider "aws" {
  region = var.region
}

module "spillway" {
  source = "../../modules/spillway"

  name_prefix        = var.name_prefix
  lambda_package_dir = var.lambda_package_dir
  td_endpoints       = var.td_endpoints
}
