# Fixture: a number without validation, an object attribute without one.
variable "retention" {
  description = "Days."
  type        = number
  default     = 14
}

variable "esm" {
  description = "ESM."
  type = object({
    batch_size        = optional(number, 100)
    starting_position = optional(string, "TRIM_HORIZON")
    bisect            = optional(bool, true)
  })
  default = {}

  validation {
    condition     = var.esm.batch_size >= 1
    error_message = "batch_size >= 1."
  }
}
