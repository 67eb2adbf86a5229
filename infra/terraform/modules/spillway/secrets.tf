# TD endpoint API keys: a JSON object {"<endpoint url>": "<apikey>"} that
# flush reads at start-up.

resource "aws_secretsmanager_secret" "td_apikeys" {
  name                    = "${var.name_prefix}/td-apikeys"
  description             = "Spillway flush: TD import API keys by endpoint URL (JSON object)."
  recovery_window_in_days = var.secret_recovery_window_days
  kms_key_id              = var.kms.secrets
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "td_apikeys" {
  count = length(nonsensitive(keys(var.td_apikeys))) > 0 ? 1 : 0

  secret_id     = aws_secretsmanager_secret.td_apikeys.id
  secret_string = jsonencode(var.td_apikeys)
}
