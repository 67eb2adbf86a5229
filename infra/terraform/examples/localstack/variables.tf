variable "endpoint" {
  description = "LocalStack edge URL."
  type        = string
  default     = "http://localhost:4566"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "spillway-ls"
}

variable "lambda_package_dir" {
  description = "Absolute directory holding <name>-<arch>.zip as `make build` writes them (dist/)."
  type        = string
}

variable "architecture" {
  description = "Lambda architecture: arm64 or x86_64 (LocalStack runs the functions; use x86_64 on an amd64 host without emulation)."
  type        = string
  default     = "arm64"
}

variable "td_endpoints" {
  description = "TD import API base URLs flush uploads to."
  type        = list(string)
  default     = []
}

variable "td_apikeys" {
  description = "TD API keys by endpoint URL, stored in the secret."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "enable_kinesis_encryption" {
  description = "KMS SSE on the stream (turn off if the LocalStack edition has no KMS)."
  type        = bool
  default     = true
}

variable "enable_alarms" {
  description = "CloudWatch alarms (turn off if CloudWatch is not enabled)."
  type        = bool
  default     = true
}

variable "enable_dashboard" {
  description = "CloudWatch dashboard (turn off if CloudWatch is not enabled)."
  type        = bool
  default     = true
}
