# The Kinesis data stream between ingest and fanout.

resource "aws_kinesis_stream" "this" {
  name             = "${var.name_prefix}-events"
  retention_period = var.stream.retention_hours
  shard_count      = var.stream.mode == "PROVISIONED" ? var.stream.shard_count : null
  encryption_type  = var.stream.encryption ? "KMS" : "NONE"
  kms_key_id       = var.stream.encryption ? var.stream.kms_key_id : null

  stream_mode_details {
    stream_mode = var.stream.mode
  }

  tags = var.stream.tagged ? local.tags : {}
}
