# Module settings for the replay's deployment (examples/local variables).
log_level = "info"
