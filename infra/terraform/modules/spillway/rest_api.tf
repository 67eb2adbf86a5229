# REST API (API Gateway v1) in front of the same ingest function, for
# shippers that compress a JSON body (Fluent Bit Format json + Compress gzip,
# Content-Type application/json + Content-Encoding gzip). An HTTP API hands
# a text Content-Type to the function as UTF-8 text, so such a body arrives
# corrupted, and HTTP APIs have no binary media types. A REST API with
# binary_media_types ["*/*"] gives a Lambda proxy integration every request
# body base64-encoded and intact (payload format 1.0, isBase64Encoded true):
# https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html
# Ingest serves both event formats with the same routes, limits and errors.
# Every path goes to ingest ({proxy+} and the root, method ANY), which
# answers unknown routes itself, as behind the HTTP API. Auth is the HTTP
# API's: ingest checks TD1 API keys itself (authorization NONE), or, with
# auth_mode iam, every method requires AWS_IAM and ingest scopes the caller
# API Gateway verified (requestContext.identity).
#
# Cost: both bill per request with no fixed fee (us-east-1: REST $3.50 per
# million for the first 333 million a month, HTTP API $1.00 per million for
# the first 300 million, metered in 512 KB increments:
# https://aws.amazon.com/api-gateway/pricing/), so an unused front costs
# nothing. Limits: 10 MB request payload and a 29 s integration timeout
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html);
# the Lambda invoke payload (6 MB) bounds a base64 body to about 4.4 MB.

locals {
  rest_api_count    = var.rest_api.enabled ? 1 : 0
  rest_api_logs     = var.rest_api.enabled && var.rest_api.access_logs ? 1 : 0
  rest_api_log_role = var.rest_api.enabled && var.rest_api.access_logs && var.rest_api.manage_account_logging_role ? 1 : 0
}

resource "aws_api_gateway_rest_api" "this" {
  count = local.rest_api_count

  name               = "${var.name_prefix}-ingest-rest"
  description        = "Spillway ingest for shippers that compress text bodies: every body reaches the function base64-encoded."
  binary_media_types = ["*/*"]

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = local.tags
}

resource "aws_api_gateway_resource" "proxy" {
  count = local.rest_api_count

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  parent_id   = aws_api_gateway_rest_api.this[0].root_resource_id
  path_part   = "{proxy+}"
}

resource "aws_api_gateway_method" "ingest" {
  for_each = var.rest_api.enabled ? toset(["root", "proxy"]) : toset([])

  rest_api_id   = aws_api_gateway_rest_api.this[0].id
  resource_id   = each.key == "root" ? aws_api_gateway_rest_api.this[0].root_resource_id : aws_api_gateway_resource.proxy[0].id
  http_method   = "ANY"
  authorization = var.auth_mode == "iam" ? "AWS_IAM" : "NONE"
}

resource "aws_api_gateway_integration" "ingest" {
  for_each = aws_api_gateway_method.ingest

  rest_api_id             = each.value.rest_api_id
  resource_id             = each.value.resource_id
  http_method             = each.value.http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.this["ingest"].invoke_arn
  timeout_milliseconds    = 29000
}

resource "aws_api_gateway_deployment" "this" {
  count = local.rest_api_count

  rest_api_id = aws_api_gateway_rest_api.this[0].id

  # A new deployment whenever what it deploys changes.
  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.proxy[0].id,
      [for m in aws_api_gateway_method.ingest : [m.id, m.authorization]],
      [for i in aws_api_gateway_integration.ingest : [i.id, i.uri, i.timeout_milliseconds]],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "rest_api" {
  count = local.rest_api_logs

  name              = "/aws/apigateway/${var.name_prefix}-ingest-rest"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms.logs
  tags              = local.tags
}

# REST API access logs need the region's API Gateway account setting to name
# a role CloudWatch Logs trusts (HTTP APIs do not). It is one setting per
# account and region: set manage_account_logging_role = false when something
# else manages it.
resource "aws_iam_role" "rest_api_logs" {
  count = local.rest_api_log_role

  name = "${var.name_prefix}-apigw-logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "apigateway.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

# The actions of the AWS managed policy AmazonAPIGatewayPushToCloudWatchLogs,
# inline rather than attached: the same permissions, and emulators without AWS
# managed policies (moto by default) apply the module too.
resource "aws_iam_role_policy" "rest_api_logs" {
  count = local.rest_api_log_role

  name = "push-to-cloudwatch-logs"
  role = aws_iam_role.rest_api_logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect = "Allow"
      Action = [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:DescribeLogGroups",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
      ]
      Resource = "*"
    }]
  })
}

resource "aws_api_gateway_account" "this" {
  count = local.rest_api_log_role

  cloudwatch_role_arn = aws_iam_role.rest_api_logs[0].arn

  depends_on = [aws_iam_role_policy.rest_api_logs]
}

resource "aws_api_gateway_stage" "this" {
  count = local.rest_api_count

  rest_api_id   = aws_api_gateway_rest_api.this[0].id
  deployment_id = aws_api_gateway_deployment.this[0].id
  stage_name    = var.rest_api.stage_name

  dynamic "access_log_settings" {
    for_each = var.rest_api.access_logs ? [1] : []
    content {
      destination_arn = aws_cloudwatch_log_group.rest_api[0].arn
      format          = jsonencode(merge(local.api_access_log_fields, { routeKey = "$context.httpMethod $context.resourcePath" }))
    }
  }

  tags = local.tags

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "this" {
  count = local.rest_api_count

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  stage_name  = aws_api_gateway_stage.this[0].stage_name
  method_path = "*/*"

  settings {
    throttling_burst_limit = var.rest_api.throttling_burst_limit
    throttling_rate_limit  = var.rest_api.throttling_rate_limit
  }
}

resource "aws_lambda_permission" "rest_api" {
  count = local.rest_api_count

  statement_id  = "AllowAPIGatewayRESTInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["ingest"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this[0].execution_arn}/*/*"
}
