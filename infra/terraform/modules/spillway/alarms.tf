# CloudWatch alarms and one dashboard.

locals {
  alarms = var.alarms.enabled ? {
    fanout_iterator_age = {
      namespace  = "AWS/Lambda"
      metric     = "IteratorAge"
      statistic  = "Maximum"
      dimensions = { FunctionName = local.function_names.fanout }
      threshold  = var.alarms.iterator_age_ms
      desc       = "fanout is falling behind the stream."
    }
    fanout_errors = {
      namespace  = "AWS/Lambda"
      metric     = "Errors"
      statistic  = "Sum"
      dimensions = { FunctionName = local.function_names.fanout }
      threshold  = 0
      desc       = "fanout invocations failed."
    }
    fanout_throttles = {
      namespace  = "AWS/Lambda"
      metric     = "Throttles"
      statistic  = "Sum"
      dimensions = { FunctionName = local.function_names.fanout }
      threshold  = 0
      desc       = "fanout invocations were throttled."
    }
    flush_errors = {
      namespace  = "AWS/Lambda"
      metric     = "Errors"
      statistic  = "Sum"
      dimensions = { FunctionName = local.function_names.flush }
      threshold  = 0
      desc       = "flush invocations failed."
    }
    ingest_5xx = {
      namespace  = "AWS/ApiGateway"
      metric     = "5xx"
      statistic  = "Sum"
      dimensions = { ApiId = aws_apigatewayv2_api.this.id, Stage = "$default" }
      threshold  = var.alarms.ingest_5xx_count
      desc       = "ingest answered 5xx."
    }
    on_failure_queue_depth = {
      namespace  = "AWS/SQS"
      metric     = "ApproximateNumberOfMessagesVisible"
      statistic  = "Maximum"
      dimensions = { QueueName = aws_sqs_queue.fanout_failures.name }
      threshold  = var.alarms.on_failure_queue_depth
      desc       = "records the fanout ESM gave up on are waiting in the on-failure queue."
    }
  } : {}
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  alarm_description   = "Spillway: ${each.value.desc}"
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  dimensions          = each.value.dimensions
  period              = var.alarms.period_seconds
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarms.alarm_actions
  ok_actions          = var.alarms.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.alarms.dashboard ? 1 : 0

  dashboard_name = "${var.name_prefix}-spillway"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Ingest API"
          region = local.region
          stat   = "Sum"
          metrics = [
            ["AWS/ApiGateway", "Count", "ApiId", aws_apigatewayv2_api.this.id],
            ["AWS/ApiGateway", "4xx", "ApiId", aws_apigatewayv2_api.this.id],
            ["AWS/ApiGateway", "5xx", "ApiId", aws_apigatewayv2_api.this.id],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Kinesis"
          region = local.region
          stat   = "Sum"
          metrics = [
            ["AWS/Kinesis", "IncomingBytes", "StreamName", aws_kinesis_stream.this.name],
            ["AWS/Kinesis", "IncomingRecords", "StreamName", aws_kinesis_stream.this.name],
            ["AWS/Kinesis", "WriteProvisionedThroughputExceeded", "StreamName", aws_kinesis_stream.this.name],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "Functions"
          region = local.region
          stat   = "Sum"
          metrics = concat(
            [for k, n in local.function_names : ["AWS/Lambda", "Errors", "FunctionName", n]],
            [for k, n in local.function_names : ["AWS/Lambda", "Throttles", "FunctionName", n]],
          )
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "fanout lag and failures"
          region = local.region
          stat   = "Maximum"
          metrics = [
            ["AWS/Lambda", "IteratorAge", "FunctionName", local.function_names.fanout],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.fanout_failures.name],
          ]
        }
      },
    ]
  })
}
