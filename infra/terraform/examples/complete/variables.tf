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

variable "code_bucket" {
  description = "S3 bucket holding the function zips (uploaded from `make build`'s dist/)."
  type        = string
  default     = "example-artifacts"
}

variable "code_version" {
  description = "Key prefix of this release's zips in code_bucket: spillway/<code_version>/<name>-amd64.zip."
  type        = string
  default     = "v1.0.0"
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the function roles (here AWS's PowerUserAccess: no IAM), or null."
  type        = string
  default     = "arn:aws:iam::aws:policy/PowerUserAccess"
}

variable "td_endpoints" {
  description = "TD import API base URLs flush uploads to."
  type        = list(string)
  default     = ["https://api-import.treasuredata.com", "https://api-import.eu01.treasuredata.com"]
}

variable "domain_name" {
  description = "Custom domain of the ingest API, or null for none."
  type        = string
  default     = "ingest.logs.example.com"
}

variable "certificate_arn" {
  description = "ACM certificate ARN for domain_name (same region)."
  type        = string
  default     = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
}
