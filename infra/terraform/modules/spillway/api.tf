# HTTP API (payload format 2.0) in front of ingest.

locals {
  api_routes = toset([
    "PUT /v3/table/import/{db}/{table}/{format}",
    "PUT /v3/table/import_with_id/{db}/{table}/{unique_id}/{format}",
    "GET /v3/database/list",
    "GET /v3/table/list/{db}",
    "GET /v3/table/show/{db}/{table}",
    "POST /v3/database/create/{db}",
    "POST /v3/table/create/{db}/{table}",
    "POST /v3/table/create/{db}/{table}/{type}",
    "POST /v1/flush",
    "POST /{tag}",
  ])
}

locals {
  # Access log fields of both fronts (the REST API names its route by
  # method and resource instead).
  api_access_log_fields = {
    requestId      = "$context.requestId"
    ip             = "$context.identity.sourceIp"
    requestTime    = "$context.requestTimeEpoch"
    routeKey       = "$context.routeKey"
    status         = "$context.status"
    responseLength = "$context.responseLength"
    latency        = "$context.integrationLatency"
    error          = "$context.integrationErrorMessage"
  }
}

resource "aws_apigatewayv2_api" "this" {
  name          = "${var.name_prefix}-ingest"
  protocol_type = "HTTP"
  description   = "Spillway ingest: TD import API and Fluentd in_http."
  tags          = local.tags
}

resource "aws_apigatewayv2_integration" "ingest" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.this["ingest"].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

resource "aws_apigatewayv2_route" "ingest" {
  for_each = local.api_routes

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.ingest.id}"
  authorization_type = var.auth_mode == "iam" ? "AWS_IAM" : "NONE"
}

resource "aws_cloudwatch_log_group" "api" {
  count = var.api.access_logs ? 1 : 0

  name              = "/aws/apigateway/${var.name_prefix}-ingest"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms.logs
  tags              = local.tags
}

resource "aws_apigatewayv2_stage" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.api.throttling_burst_limit
    throttling_rate_limit  = var.api.throttling_rate_limit
  }

  dynamic "access_log_settings" {
    for_each = var.api.access_logs ? [1] : []
    content {
      destination_arn = aws_cloudwatch_log_group.api[0].arn
      format          = jsonencode(local.api_access_log_fields)
    }
  }

  tags = local.tags
}

resource "aws_apigatewayv2_domain_name" "this" {
  count = var.api.custom_domain == null ? 0 : 1

  domain_name = var.api.custom_domain.domain_name

  domain_name_configuration {
    certificate_arn = var.api.custom_domain.certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }

  tags = local.tags
}

resource "aws_apigatewayv2_api_mapping" "this" {
  count = var.api.custom_domain == null ? 0 : 1

  api_id      = aws_apigatewayv2_api.this.id
  domain_name = aws_apigatewayv2_domain_name.this[0].id
  stage       = aws_apigatewayv2_stage.this.id
}

# Optional second HTTP API with the same routes, every one requiring AWS_IAM
# (SigV4) authorization, for clients that sign requests instead of sending TD1
# API keys. Ingest sees the caller in requestContext.authorizer.iam.
locals {
  iam_api_routes = var.api.iam_auth_api ? local.api_routes : toset([])
}

resource "aws_apigatewayv2_api" "iam" {
  count = var.api.iam_auth_api ? 1 : 0

  name          = "${var.name_prefix}-ingest-iam"
  protocol_type = "HTTP"
  description   = "Spillway ingest for SigV4 clients (AWS_IAM on every route)."
  tags          = local.tags
}

resource "aws_apigatewayv2_integration" "iam" {
  count = var.api.iam_auth_api ? 1 : 0

  api_id                 = aws_apigatewayv2_api.iam[0].id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.this["ingest"].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

resource "aws_apigatewayv2_route" "iam" {
  for_each = local.iam_api_routes

  api_id             = aws_apigatewayv2_api.iam[0].id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.iam[0].id}"
  authorization_type = "AWS_IAM"
}

resource "aws_apigatewayv2_stage" "iam" {
  count = var.api.iam_auth_api ? 1 : 0

  api_id      = aws_apigatewayv2_api.iam[0].id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.api.throttling_burst_limit
    throttling_rate_limit  = var.api.throttling_rate_limit
  }

  tags = local.tags
}

resource "aws_lambda_permission" "iam_api" {
  count = var.api.iam_auth_api ? 1 : 0

  statement_id  = "AllowAPIGatewayIAMInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["ingest"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.iam[0].execution_arn}/*/*"
}
