# The Iceberg lake: flush writes the tables (shared/lake, iceberg-go's Glue
# catalog); the module grants it exactly that and creates an Athena
# workgroup to query them. The Glue databases and tables are created by
# flush on first use (one Glue database per Spillway database), so that a
# new Spillway table is queryable without a Terraform run.

locals {
  lake_warehouse = var.lake.enabled ? "s3://${aws_s3_bucket.this.bucket}/${var.lake.prefix}" : ""
  glue_arn       = "arn:${local.partition}:glue:${local.region}:${local.account_id}"
}

resource "aws_athena_workgroup" "this" {
  count = var.lake.enabled && var.lake.athena_workgroup ? 1 : 0

  name          = var.name_prefix
  description   = "Spillway: SQL over the Iceberg lake (Glue databases named like the Spillway databases)."
  force_destroy = true
  tags          = local.tags

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${aws_s3_bucket.this.bucket}/${var.lake.athena_results_prefix}/"

      encryption_configuration {
        encryption_option = var.kms.s3 == null ? "SSE_S3" : "SSE_KMS"
        kms_key_arn       = var.kms.s3
      }
    }
  }
}
