# The Kinesis data stream between ingest and fanout.

resource "aws_kinesis_stream" "this" {
  name             = "${var.name_prefix}-events"
  retention_period = var.stream.retention_hours
  shard_count      = var.stream.mode == "PROVISIONED" ? var.stream.shard_count : null
  encryption_type  = var.stream.encryption ? "KMS" : "NONE"
  kms_key_id       = var.stream.encryption ? coalesce(var.kms.kinesis, "alias/aws/kinesis") : null

  lifecycle {
    precondition {
      condition     = var.stream.encryption || var.kms.kinesis == null
      error_message = "kms.kinesis is set but stream.encryption is false."
    }
  }

  stream_mode_details {
    stream_mode = var.stream.mode
  }

  tags = var.stream.tagged ? local.tags : {}
}
