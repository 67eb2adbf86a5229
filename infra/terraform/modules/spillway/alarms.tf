# CloudWatch alarms and one dashboard.

locals {
  alarm_actions = concat(var.alarms.sns_topic_arn == null ? [] : [var.alarms.sns_topic_arn], var.alarms.alarm_actions)
  m_of_n        = { evaluation_periods = var.alarms.evaluation_periods, datapoints = var.alarms.datapoints_to_alarm }
  first         = { evaluation_periods = 1, datapoints = 1 }
  pipeline_ns   = "Spillway/${var.name_prefix}"

  # Metrics from the functions' JSON logs (slog "msg"): loss-related events
  # and the flush heartbeat. A test checks that each message is logged by
  # the function's Go code.
  log_metrics = {
    QuarantinedRecords = { function = "fanout", msg = "record quarantined" }
    ParkedImports      = { function = "flush", msg = "import refused, parked" }
    FlushRuns          = { function = "flush", msg = "flush done" }
    IngestRejected     = { function = "ingest", msg = "rejected" }
  }

  # treat_missing: Lambda and SQS publish nothing when idle, so missing data
  # is fine (notBreaching), except for the flush heartbeat, where missing
  # data is exactly the failure (breaching). eval: M of N where noise is
  # expected (lag, errors, throttles, 5xx, rejections); loss-related alarms
  # fire on the first datapoint.
  flush_ns = "Spillway/Flush" # flush's EMF metrics (functions/flush/metrics.go)

  alarms = var.alarms.enabled ? merge({
    fanout_iterator_age    = { namespace = "AWS/Lambda", metric = "IteratorAge", statistic = "Maximum", dimensions = { FunctionName = local.function_names.fanout }, threshold = var.alarms.iterator_age_ms, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "fanout is falling behind the stream." }
    fanout_errors          = { namespace = "AWS/Lambda", metric = "Errors", statistic = "Sum", dimensions = { FunctionName = local.function_names.fanout }, threshold = 0, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "fanout invocations failed." }
    fanout_throttles       = { namespace = "AWS/Lambda", metric = "Throttles", statistic = "Sum", dimensions = { FunctionName = local.function_names.fanout }, threshold = 0, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "fanout invocations were throttled." }
    ingest_errors          = { namespace = "AWS/Lambda", metric = "Errors", statistic = "Sum", dimensions = { FunctionName = local.function_names.ingest }, threshold = 0, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "ingest invocations failed." }
    ingest_throttles       = { namespace = "AWS/Lambda", metric = "Throttles", statistic = "Sum", dimensions = { FunctionName = local.function_names.ingest }, threshold = 0, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "ingest invocations were throttled (clients get 429/503 and retry)." }
    flush_errors           = { namespace = "AWS/Lambda", metric = "Errors", statistic = "Sum", dimensions = { FunctionName = local.function_names.flush }, threshold = 0, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "flush invocations failed." }
    flush_async_dropped    = { namespace = "AWS/Lambda", metric = "AsyncEventsDropped", statistic = "Sum", dimensions = { FunctionName = local.function_names.flush }, threshold = 0, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.first, desc = "Lambda dropped asynchronous flush requests (fanout's, after the function failed them twice, or too old): nothing is lost, the schedule seals those tables within a minute, but a request keeps failing; see the flush errors and logs." }
    flush_freshness        = { namespace = local.pipeline_ns, metric = "FlushRuns", statistic = "Sum", dimensions = {}, threshold = 1, treat_missing = "breaching", comparison = "LessThanThreshold", eval = { evaluation_periods = var.alarms.flush_stalled_periods, datapoints = var.alarms.flush_stalled_periods }, desc = "no flush run completed for flush_stalled_periods periods: staged events are getting older unsealed." }
    ingest_5xx             = { namespace = "AWS/ApiGateway", metric = "5xx", statistic = "Sum", dimensions = { ApiId = aws_apigatewayv2_api.this.id, Stage = "$default" }, threshold = var.alarms.ingest_5xx_count, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "ingest answered 5xx." }
    ingest_rejected        = { namespace = local.pipeline_ns, metric = "IngestRejected", statistic = "Sum", dimensions = {}, threshold = var.alarms.ingest_rejected_count, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "ingest rejected many requests (bad keys, bad bodies, limits)." }
    quarantined_records    = { namespace = local.pipeline_ns, metric = "QuarantinedRecords", statistic = "Sum", dimensions = {}, threshold = 0, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.first, desc = "fanout quarantined records (quarantine/ prefix)." }
    parked_imports         = { namespace = local.pipeline_ns, metric = "ParkedImports", statistic = "Sum", dimensions = {}, threshold = 0, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.first, desc = "a TD endpoint refused an import; the object was parked under failed/." }
    on_failure_queue_depth = { namespace = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", statistic = "Maximum", dimensions = { QueueName = aws_sqs_queue.fanout_failures.name }, threshold = var.alarms.on_failure_queue_depth, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.first, desc = "records the fanout ESM gave up on are waiting in the on-failure queue." }
    on_failure_queue_age   = { namespace = "AWS/SQS", metric = "ApproximateAgeOfOldestMessage", statistic = "Maximum", dimensions = { QueueName = aws_sqs_queue.fanout_failures.name }, threshold = var.alarms.on_failure_queue_age_s, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.first, desc = "an on-failure pointer has waited too long: replay it before the stream drops the record." }
    missing_staged_objects = { namespace = local.flush_ns, metric = "MissingStagedObjects", statistic = "Sum", dimensions = { Function = local.function_names.flush }, threshold = 0, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.first, desc = "flush dropped staged items whose staged object was gone from S3 under a claimed manifest (ERROR log \"staged object missing under a claimed manifest\" names db, table, key and events): the object was deleted from outside the pipeline, or its events were sealed already; compare the table's catalog count with data/." }
    staged_age             = { namespace = local.flush_ns, metric = "OldestStagedSeconds", statistic = "Maximum", dimensions = { Function = local.function_names.flush }, threshold = var.alarms.staged_age_s, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "flush found committed events older than staged_age_s still unsealed: the lake and TD are stale." }
    }, {
    # The REST API front publishes 5XXError by ApiName and Stage.
    for k in var.rest_api.enabled ? ["ingest_rest_5xx"] : [] : k => { namespace = "AWS/ApiGateway", metric = "5XXError", statistic = "Sum", dimensions = { ApiName = aws_api_gateway_rest_api.this[0].name, Stage = var.rest_api.stage_name }, threshold = var.alarms.ingest_5xx_count, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "ingest answered 5xx through the REST API front." }
    }, {
    for i, ep in var.td_endpoints : "td_backlog_${i}" => { namespace = local.flush_ns, metric = "OldestUnimportedSeconds", statistic = "Maximum", dimensions = { Function = local.function_names.flush, Endpoint = ep }, threshold = var.alarms.td_backlog_age_s, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "TD endpoint ${ep} has a backlog older than td_backlog_age_s (it is failing; S3 and the other endpoints go on)." }
    }, var.lake.enabled ? {
    lake_backlog = { namespace = local.flush_ns, metric = "OldestUnimportedSeconds", statistic = "Maximum", dimensions = { Function = local.function_names.flush, Endpoint = "lake" }, threshold = var.alarms.td_backlog_age_s, treat_missing = "notBreaching", comparison = "GreaterThanThreshold", eval = local.m_of_n, desc = "the Iceberg lake has sealed objects older than td_backlog_age_s not appended (Glue or its S3 prefix is failing; S3 and the TD endpoints go on)." }
  } : {}) : {}
}

resource "aws_cloudwatch_log_metric_filter" "this" {
  for_each = var.alarms.enabled || var.alarms.dashboard ? local.log_metrics : {}

  name           = "${var.name_prefix}-${each.key}"
  log_group_name = aws_cloudwatch_log_group.function[each.value.function].name
  pattern        = "{ $.msg = \"${each.value.msg}\" }"

  metric_transformation {
    name      = each.key
    namespace = local.pipeline_ns
    value     = "1"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  alarm_description   = "Spillway: ${each.value.desc}"
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  dimensions          = length(each.value.dimensions) == 0 ? null : each.value.dimensions
  period              = var.alarms.period_seconds
  evaluation_periods  = each.value.eval.evaluation_periods
  datapoints_to_alarm = each.value.eval.datapoints
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  treat_missing_data  = each.value.treat_missing
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags

  depends_on = [aws_cloudwatch_log_metric_filter.this]
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
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", aws_sqs_queue.fanout_failures.name],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 24, height = 6
        properties = {
          title  = "Freshness and loss: flush runs, quarantined records, parked imports, rejected requests"
          region = local.region
          stat   = "Sum"
          metrics = [
            [local.pipeline_ns, "FlushRuns"],
            [local.pipeline_ns, "QuarantinedRecords"],
            [local.pipeline_ns, "ParkedImports"],
            [local.pipeline_ns, "IngestRejected"],
          ]
        }
      },
    ]
  })
}
