# Fixture: undocumented and untyped variables, an undocumented output.
variable "no_description" {
  type = string
}

variable "no_type" {
  description = "Has no type."
}

variable "any_type" {
  description = "Typed any."
  type        = any
}

variable "empty_description" {
  description = ""
  type        = string
}

output "no_description" {
  value = 1
}
