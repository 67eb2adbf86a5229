# Fixture: fanout lacks SPILLWAY_LEDGER_TABLE, ingest sets an unknown variable.
locals {
  function_environment = {
    ingest = {
      SPILLWAY_LOG_LEVEL      = "info"
      SPILLWAY_STREAM_NAME    = "s"
      SPILLWAY_CATALOG_TABLE  = "c"
      SPILLWAY_APIKEYS_TABLE  = "k"
      SPILLWAY_FLUSH_FUNCTION = "f"
      SPILLWAY_AUTO_CREATE    = "true"
      SPILLWAY_AUTH_MODE      = "apikey"
      SPILLWAY_IAM_SCOPES     = "{}"
      SPILLWAY_TYPO           = "x"
    }
    fanout = {
      SPILLWAY_LOG_LEVEL              = "info"
      SPILLWAY_BUCKET                 = "b"
      SPILLWAY_CATALOG_TABLE          = "c"
      SPILLWAY_MANIFEST_TABLE         = "m"
      SPILLWAY_AUTO_CREATE            = "true"
      SPILLWAY_LEDGER_TTL_HOURS       = "216"
      SPILLWAY_RESEND_HORIZON_HOURS   = "168"
      SPILLWAY_STREAM_RETENTION_HOURS = "24"
      SPILLWAY_COMMIT_CONCURRENCY     = "8"
      SPILLWAY_COUNTER_ITEMS          = "64"
      SPILLWAY_LATE_WINDOW            = "2h"
      SPILLWAY_FUTURE_LIMIT           = "1h"
      SPILLWAY_FLUSH_FUNCTION         = "f"
      SPILLWAY_SEAL_AFTER             = "30s"
    }
    flush = {
      SPILLWAY_LOG_LEVEL         = "info"
      SPILLWAY_BUCKET            = "b"
      SPILLWAY_CATALOG_TABLE     = "c"
      SPILLWAY_MANIFEST_TABLE    = "m"
      SPILLWAY_TD_ENDPOINTS      = ""
      SPILLWAY_TD_APIKEY_SECRET  = "s"
      SPILLWAY_SEAL_TARGET_BYTES = "1"
      SPILLWAY_LATE_WINDOW       = "2h"
      SPILLWAY_SWEEP_EVERY       = "30s"
    }
  }
}
