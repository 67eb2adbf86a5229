variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "spillway-prod"
}

variable "lambda_package_dir" {
  description = "Directory holding <name>-<arch>.zip as `make build` writes them."
  type        = string
  default     = "../../../../dist"
}

variable "td_endpoints" {
  description = "TD import API base URLs flush uploads to."
  type        = list(string)
  default     = ["https://api-import.treasuredata.com", "https://api-import.eu01.treasuredata.com"]
}

variable "domain_name" {
  description = "Custom domain of the ingest API, or null for none."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "ACM certificate ARN for domain_name (same region)."
  type        = string
  default     = null
}
