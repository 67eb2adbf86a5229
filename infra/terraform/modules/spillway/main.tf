# Spillway: API Gateway -> ingest Lambda -> Kinesis -> fanout Lambda -> S3 /
# DynamoDB catalog; flush Lambda seals staged objects and imports them into
# Treasure-Data-compatible endpoints. One file per concern; this one holds the
# shared locals.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  # id, not the name attribute that provider v6 deprecates; both hold the
  # region name in 5.x.
  region    = data.aws_region.current.id
  partition = data.aws_partition.current.partition

  # Lambda architecture -> the suffix `make build` uses for dist/<name>-<arch>.zip.
  arch_suffix = { arm64 = "arm64", x86_64 = "amd64" }[var.architecture]

  function_names = {
    ingest = "${var.name_prefix}-ingest"
    fanout = "${var.name_prefix}-fanout"
    flush  = "${var.name_prefix}-flush"
  }

  function_settings = {
    ingest = var.functions.ingest
    fanout = var.functions.fanout
    flush  = var.functions.flush
  }

  bucket_name = coalesce(var.bucket.name, "${var.name_prefix}-${local.account_id}-${local.region}")

  tags = merge({ "spillway:name" = var.name_prefix }, var.tags)
}
