# One role per function, allowed exactly the calls it makes on exactly its
# resources. Edit function_permissions when a function starts making a new
# AWS call; the static test in infra/terraform compares these lists with the
# SDK operations the Go code declares, in both directions.
#
# No statement has a "*" resource. kinesis:ListStreams, the one action the
# Kinesis ESM might use without a resource level, is not granted: Lambda's
# Kinesis event source needs DescribeStream(Summary), GetRecords,
# GetShardIterator and ListShards on the stream (SubscribeToShard only for
# enhanced fan-out consumers, which the module does not use).

locals {
  stream_arn    = aws_kinesis_stream.this.arn
  bucket_arn    = aws_s3_bucket.this.arn
  catalog_arn   = aws_dynamodb_table.catalog.arn
  ledger_arn    = aws_dynamodb_table.ledger.arn
  manifests_arn = aws_dynamodb_table.manifests.arn
  apikeys_arn   = aws_dynamodb_table.apikeys.arn
  flush_arn     = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.function_names.flush}"

  # Prefixes flush reads and lists; fanout only writes.
  flush_prefixes = ["staged/", "data/", "late/", "failed/", "manifests/"]

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
        actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PutItem"]
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
        resources = [local.flush_arn]
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
      {
        # Asks for a flush of each table that committed new staged objects.
        sid       = "InvokeFlush"
        actions   = ["lambda:InvokeFunction"]
        resources = [local.flush_arn]
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
        resources = ["${local.bucket_arn}/staged/*", "${local.bucket_arn}/data/*", "${local.bucket_arn}/late/*", "${local.bucket_arn}/failed/*", "${local.bucket_arn}/manifests/*"]
      },
      {
        # Without ListBucket a GetObject of a missing key answers 403, not
        # 404; limited to the prefixes flush reads.
        sid       = "List"
        actions   = ["s3:ListBucket"]
        resources = [local.bucket_arn]
        conditions = [
          { test = "StringLike", variable = "s3:prefix", values = [for p in local.flush_prefixes : "${p}*"] },
        ]
      },
      {
        sid       = "Tables"
        actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan"]
        resources = [local.manifests_arn, local.catalog_arn]
      },
      {
        # The staged sweep reads fanout's ledger to tell staged orphans
        # (functions/flush/stagedsweep.go).
        sid       = "Ledger"
        actions   = ["dynamodb:GetItem"]
        resources = [local.ledger_arn]
      },
      {
        sid       = "TDAPIKeys"
        actions   = ["secretsmanager:GetSecretValue"]
        resources = [aws_secretsmanager_secret.td_apikeys.arn]
      },
      {
        # iceberg-go's Glue catalog for shared/lake (LoadTable: GetTable;
        # CreateNamespace: CreateDatabase; CreateTable: GetDatabase,
        # CreateTable, GetTable; a commit: GetTable, UpdateTable): the
        # account's catalog and the Glue databases (named like the Spillway
        # databases) matching lake.glue_database_pattern, and their tables.
        sid       = "LakeCatalog"
        enabled   = var.lake.enabled
        actions   = ["glue:GetDatabase", "glue:CreateDatabase", "glue:GetTable", "glue:CreateTable", "glue:UpdateTable"]
        resources = ["${local.glue_arn}:catalog", "${local.glue_arn}:database/${var.lake.glue_database_pattern}", "${local.glue_arn}:table/${var.lake.glue_database_pattern}/*"]
      },
      {
        # iceberg-go's S3 file IO on the warehouse: metadata and Parquet
        # files (GetObject also serves HeadObject; large files are
        # multipart uploads); maintenance deletes expired and orphan files
        # (DeleteObjects is authorised per key by s3:DeleteObject).
        sid       = "LakeObjects"
        enabled   = var.lake.enabled
        actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]
        resources = ["${local.bucket_arn}/${var.lake.prefix}/*"]
      },
      {
        # Orphan-file cleanup lists a table's location.
        sid       = "LakeList"
        enabled   = var.lake.enabled
        actions   = ["s3:ListBucket"]
        resources = [local.bucket_arn]
        conditions = [
          { test = "StringLike", variable = "s3:prefix", values = ["${var.lake.prefix}/*"] },
        ]
      },
    ]
  }

  # KMS: per function, the kms: actions each customer-managed key in var.kms
  # needs for the calls above, on that key only, through that service only
  # (kms:ViaService) and, where the service sets one, for this module's
  # resources only (encryption context). A statement is emitted only when its
  # key is given. var.kms.logs is absent on purpose: CloudWatch Logs encrypts
  # with the key itself (the key policy must allow logs.<region>.amazonaws.com,
  # see the README); the functions' roles need nothing for it.
  #   kinesis: producers GenerateDataKey, consumers (the ESM, as fanout) Decrypt;
  #            context aws:kinesis:arn = the stream.
  #   s3:      PutObject GenerateDataKey (+ Decrypt for multipart uploads),
  #            GetObject Decrypt; context aws:s3:arn = the bucket (bucket keys).
  #   dynamodb: Decrypt of the table key; context aws:dynamodb:tableName.
  #   sqs:     SendMessage GenerateDataKey + Decrypt; context aws:sqs:arn.
  #   secrets: GetSecretValue Decrypt; context SecretARN.
  #   lambda:  the runtime decrypts the environment as the execution role;
  #            context aws:lambda:FunctionArn.
  kms_permissions = {
    ingest = [
      { sid = "KinesisKey", key = "kinesis", service = "kinesis", actions = ["kms:GenerateDataKey"], context = "aws:kinesis:arn", values = [local.stream_arn] },
      { sid = "DynamoDBKey", key = "dynamodb", service = "dynamodb", actions = ["kms:Decrypt"], context = "aws:dynamodb:tableName", values = [aws_dynamodb_table.catalog.name, aws_dynamodb_table.apikeys.name] },
      { sid = "LambdaEnvKey", key = "lambda", service = "lambda", actions = ["kms:Decrypt"], context = "aws:lambda:FunctionArn", values = ["arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.function_names.ingest}"] },
    ]
    fanout = [
      { sid = "KinesisKey", key = "kinesis", service = "kinesis", actions = ["kms:Decrypt"], context = "aws:kinesis:arn", values = [local.stream_arn] },
      { sid = "S3Key", key = "s3", service = "s3", actions = ["kms:GenerateDataKey", "kms:Decrypt"], context = "aws:s3:arn", values = [local.bucket_arn, "${local.bucket_arn}/*"] },
      { sid = "DynamoDBKey", key = "dynamodb", service = "dynamodb", actions = ["kms:Decrypt"], context = "aws:dynamodb:tableName", values = [aws_dynamodb_table.ledger.name, aws_dynamodb_table.catalog.name, aws_dynamodb_table.manifests.name] },
      { sid = "SQSKey", key = "sqs", service = "sqs", actions = ["kms:GenerateDataKey", "kms:Decrypt"], context = "aws:sqs:arn", values = [aws_sqs_queue.fanout_failures.arn] },
      { sid = "LambdaEnvKey", key = "lambda", service = "lambda", actions = ["kms:Decrypt"], context = "aws:lambda:FunctionArn", values = ["arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.function_names.fanout}"] },
    ]
    flush = [
      { sid = "S3Key", key = "s3", service = "s3", actions = ["kms:GenerateDataKey", "kms:Decrypt"], context = "aws:s3:arn", values = [local.bucket_arn, "${local.bucket_arn}/*"] },
      { sid = "DynamoDBKey", key = "dynamodb", service = "dynamodb", actions = ["kms:Decrypt"], context = "aws:dynamodb:tableName", values = [aws_dynamodb_table.manifests.name, aws_dynamodb_table.catalog.name, aws_dynamodb_table.ledger.name] },
      { sid = "SecretsKey", key = "secrets", service = "secretsmanager", actions = ["kms:Decrypt"], context = "SecretARN", values = [aws_secretsmanager_secret.td_apikeys.arn] },
      { sid = "LambdaEnvKey", key = "lambda", service = "lambda", actions = ["kms:Decrypt"], context = "aws:lambda:FunctionArn", values = [local.flush_arn] },
    ]
  }

  # The statements of each role: function_permissions plus the KMS statements
  # of the keys given.
  role_statements = {
    for fn, stmts in local.function_permissions : fn => concat(
      [for s in stmts : { sid = s.sid, actions = s.actions, resources = s.resources, conditions = lookup(s, "conditions", []) } if lookup(s, "enabled", true)],
      [for k in local.kms_permissions[fn] : {
        sid       = k.sid
        actions   = k.actions
        resources = [var.kms[k.key]]
        conditions = [
          { test = "StringEquals", variable = "kms:ViaService", values = ["${k.service}.${local.region}.amazonaws.com"] },
          { test = k.context == "aws:s3:arn" ? "StringLike" : "StringEquals", variable = "kms:EncryptionContext:${k.context}", values = k.values },
        ]
      } if var.kms[k.key] != null],
    )
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

  name                 = "${each.value}-role"
  path                 = var.iam.role_path
  permissions_boundary = var.iam.permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.assume_lambda.json
  tags                 = local.tags
}

data "aws_iam_policy_document" "function" {
  for_each = local.role_statements

  dynamic "statement" {
    for_each = each.value
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_permissions

  name   = "${local.function_names[each.key]}-policy"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function[each.key].json
}

# AWS managed policies whose actions have no resource level (justified in the
# README): X-Ray segments, and the ENI calls Lambda makes for VPC functions.
resource "aws_iam_role_policy_attachment" "xray" {
  for_each = var.tracing_enabled ? local.function_names : {}

  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_iam_role_policy_attachment" "vpc" {
  for_each = var.vpc == null ? {} : local.function_names

  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaENIManagementAccess"
}
