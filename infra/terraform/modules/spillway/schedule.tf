# EventBridge schedule that runs flush.

resource "aws_cloudwatch_event_rule" "flush" {
  name                = "${var.name_prefix}-flush"
  description         = "Spillway: seal and import what is due."
  schedule_expression = var.flush.schedule_expression
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "flush" {
  rule      = aws_cloudwatch_event_rule.flush.name
  target_id = "flush"
  arn       = aws_lambda_function.this["flush"].arn
}

resource "aws_lambda_permission" "flush_schedule" {
  statement_id  = "AllowEventBridgeInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["flush"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.flush.arn
}
