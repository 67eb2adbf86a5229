# DynamoDB tables. Key schemas are a contract (docs/ARCHITECTURE.md).

locals {
  provisioned = var.dynamodb.billing_mode == "PROVISIONED"
}

resource "aws_dynamodb_table" "catalog" {
  name                        = "${var.name_prefix}-catalog"
  billing_mode                = var.dynamodb.billing_mode
  read_capacity               = local.provisioned ? var.dynamodb.read_capacity : null
  write_capacity              = local.provisioned ? var.dynamodb.write_capacity : null
  hash_key                    = "db"
  range_key                   = "table"
  deletion_protection_enabled = var.dynamodb.deletion_protection

  attribute {
    name = "db"
    type = "S"
  }
  attribute {
    name = "table"
    type = "S"
  }

  point_in_time_recovery {
    enabled = var.dynamodb.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms.dynamodb
  }

  tags = local.tags
}

resource "aws_dynamodb_table" "ledger" {
  name                        = "${var.name_prefix}-ledger"
  billing_mode                = var.dynamodb.billing_mode
  read_capacity               = local.provisioned ? var.dynamodb.read_capacity : null
  write_capacity              = local.provisioned ? var.dynamodb.write_capacity : null
  hash_key                    = "id"
  deletion_protection_enabled = var.dynamodb.deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.dynamodb.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms.dynamodb
  }

  tags = local.tags
}

resource "aws_dynamodb_table" "manifests" {
  name                        = "${var.name_prefix}-manifests"
  billing_mode                = var.dynamodb.billing_mode
  read_capacity               = local.provisioned ? var.dynamodb.read_capacity : null
  write_capacity              = local.provisioned ? var.dynamodb.write_capacity : null
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.dynamodb.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = var.dynamodb.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms.dynamodb
  }

  tags = local.tags
}

resource "aws_dynamodb_table" "apikeys" {
  name                        = "${var.name_prefix}-apikeys"
  billing_mode                = var.dynamodb.billing_mode
  read_capacity               = local.provisioned ? var.dynamodb.read_capacity : null
  write_capacity              = local.provisioned ? var.dynamodb.write_capacity : null
  hash_key                    = "key_hash"
  deletion_protection_enabled = var.dynamodb.deletion_protection

  attribute {
    name = "key_hash"
    type = "S"
  }

  point_in_time_recovery {
    enabled = var.dynamodb.point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms.dynamodb
  }

  tags = local.tags
}
