# One role per function, allowed exactly the calls it makes on exactly its
# resources. Edit function_permissions when a function starts making a new
# AWS call; the static test in infra/terraform compares these lists with the
# SDK operations the Go code declares.

locals {
  stream_arn    = aws_kinesis_stream.this.arn
  streams_arn   = "${split("/", aws_kinesis_stream.this.arn)[0]}/*"
  bucket_arn    = aws_s3_bucket.this.arn
  catalog_arn   = aws_dynamodb_table.catalog.arn
  ledger_arn    = aws_dynamodb_table.ledger.arn
  manifests_arn = aws_dynamodb_table.manifests.arn
  apikeys_arn   = aws_dynamodb_table.apikeys.arn

  function_permissions = {
    ingest = [
      {
        sid       = "Logs"
        actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        resources = ["${aws_cloudwatch_log_group.function["ingest"].arn}:*"]
      },
      {
        sid       = "PutRecords"
        actions   = ["kinesis:PutRecords"]
        resources = [local.stream_arn]
      },
      {
        sid       = "Catalog"
        actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem"]
        resources = [local.catalog_arn]
      },
      {
        sid       = "APIKeys"
        actions   = ["dynamodb:GetItem"]
        resources = [local.apikeys_arn]
      },
      {
        sid       = "InvokeFlush"
        actions   = ["lambda:InvokeFunction"]
        resources = ["arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.function_names.flush}"]
      },
    ]
    fanout = [
      {
        sid       = "Logs"
        actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        resources = ["${aws_cloudwatch_log_group.function["fanout"].arn}:*"]
      },
      {
        sid       = "ReadStream"
        actions   = ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards"]
        resources = [local.stream_arn]
      },
      {
        sid       = "ListStreams"
        actions   = ["kinesis:ListStreams"]
        resources = [local.streams_arn]
      },
      {
        sid       = "WriteStaged"
        actions   = ["s3:PutObject"]
        resources = ["${local.bucket_arn}/staged/*", "${local.bucket_arn}/late/*", "${local.bucket_arn}/quarantine/*"]
      },
      {
        # TransactWriteItems needs the item actions its entries use (Put,
        # Update, ConditionCheck) on the same tables.
        sid       = "Tables"
        actions   = ["dynamodb:TransactWriteItems", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"]
        resources = [local.ledger_arn, local.catalog_arn, local.manifests_arn]
      },
      {
        sid       = "OnFailure"
        actions   = ["sqs:SendMessage"]
        resources = [aws_sqs_queue.fanout_failures.arn]
      },
    ]
    flush = [
      {
        sid       = "Logs"
        actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        resources = ["${aws_cloudwatch_log_group.function["flush"].arn}:*"]
      },
      {
        sid       = "Objects"
        actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        resources = ["${local.bucket_arn}/staged/*", "${local.bucket_arn}/data/*", "${local.bucket_arn}/late/*", "${local.bucket_arn}/failed/*"]
      },
      {
        # Without ListBucket a GetObject of a missing key answers 403, not 404.
        sid       = "List"
        actions   = ["s3:ListBucket"]
        resources = [local.bucket_arn]
      },
      {
        sid       = "Tables"
        actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan"]
        resources = [local.manifests_arn, local.catalog_arn]
      },
      {
        sid       = "TDAPIKeys"
        actions   = ["secretsmanager:GetSecretValue"]
        resources = [aws_secretsmanager_secret.td_apikeys.arn]
      },
    ]
  }
}

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.function_names

  name               = "${each.value}-role"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = local.tags
}

data "aws_iam_policy_document" "function" {
  for_each = local.function_permissions

  dynamic "statement" {
    for_each = each.value
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_permissions

  name   = "${local.function_names[each.key]}-policy"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

resource "aws_iam_role_policy_attachment" "xray" {
  for_each = var.tracing_enabled ? local.function_names : {}

  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}
