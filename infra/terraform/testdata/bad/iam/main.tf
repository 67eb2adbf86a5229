# Fixture: ingest lacks kinesis:PutRecords, fanout uses a wildcard action,
# flush a wildcard resource.
locals {
  function_permissions = {
    ingest = [
      {
        sid       = "Stream"
        actions   = ["kinesis:DescribeStreamSummary"]
        resources = [aws_kinesis_stream.this.arn]
      },
    ]
    fanout = [
      {
        sid       = "Objects"
        actions   = ["s3:*"]
        resources = ["${aws_s3_bucket.this.arn}/staged/*"]
      },
    ]
    flush = [
      {
        sid       = "Secret"
        actions   = ["secretsmanager:GetSecretValue"]
        resources = ["*"]
      },
    ]
  }
}
