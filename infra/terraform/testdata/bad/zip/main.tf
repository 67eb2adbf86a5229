# Fixture: an underscore instead of a dash and a wrong arch suffix.
locals {
  arch_suffix    = { arm64 = "aarch64", x86_64 = "amd64" }[var.architecture]
  function_names = { ingest = "i", fanout = "fa", flush = "fl" }
}

resource "aws_lambda_function" "this" {
  for_each = local.function_names
  filename = "${var.lambda_package_dir}/${each.key}_${local.arch_suffix}.zip"
}
