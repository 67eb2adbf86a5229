#!/bin/bash
# Runs inside the LocalStack container once it is ready
# (/etc/localstack/init/ready.d). Spillway's resources are created by
# Terraform (infra/terraform/examples/local), not here; this hook only
# reports readiness and the services LocalStack serves, so `docker compose
# logs` shows when `terraform apply` may start.
set -euo pipefail
echo "spillway: LocalStack ready; services:"
curl -fsS http://127.0.0.1:4566/_localstack/health || true
echo
echo "spillway: now run: terraform -chdir=infra/terraform/examples/local apply -var endpoint=http://127.0.0.1:4566"
