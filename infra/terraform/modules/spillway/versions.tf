terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Tested with 5.100.0 (the offline mirror of make test); v6 is not.
      version = ">= 5.100, < 6.0"
    }
  }
}
