# The one S3 bucket: staged/, data/, late/, quarantine/, failed/, manifests/.

resource "aws_s3_bucket" "this" {
  bucket        = local.bucket_name
  force_destroy = var.bucket.force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms.s3 == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms.s3
    }
    bucket_key_enabled = var.kms.s3 != null
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = var.bucket.versioning ? "Enabled" : "Suspended"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  dynamic "rule" {
    # Only what the user chose to expire: staged/ and late/ objects are
    # deleted by flush once sealed, and quarantine/ and failed/ hold the
    # bytes `spillway replay` puts back; nothing the pipeline still needs
    # may expire behind its back.
    # Athena's query results are the user's copies, not the lake's data.
    for_each = { for k, v in {
      quarantine     = { prefix = "quarantine/", days = var.bucket.quarantine_expire_days }
      failed         = { prefix = "failed/", days = var.bucket.failed_expire_days }
      athena-results = { prefix = "${var.lake.athena_results_prefix}/", days = var.lake.enabled && var.lake.athena_workgroup ? var.lake.athena_results_expire_days : null }
    } : k => v if v.days != null }
    content {
      id     = "expire-${rule.key}"
      status = "Enabled"

      filter {
        prefix = rule.value.prefix
      }

      expiration {
        days = rule.value.days
      }

      noncurrent_version_expiration {
        noncurrent_days = rule.value.days
      }
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}
