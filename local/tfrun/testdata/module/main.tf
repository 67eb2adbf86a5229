# Fixture: a root module that needs no provider download.
variable "v" {
  description = "Value stored in the resource."
  type        = string
  default     = "one"
}

variable "n" {
  description = "A number, to prove non-string -var values work."
  type        = number
  default     = 1
}

resource "terraform_data" "this" {
  input = "${var.v}-${var.n}"
}

output "value" {
  description = "The stored value."
  value       = terraform_data.this.output
}
