#!/usr/bin/env bash
# Installs what Spillway's builds, tests and local cloud need, and checks the
# rest. Idempotent: a second run does nothing but checks.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

# Go modules (through the module proxy).
go mod download

# Debian packages the tests use (python3-fluent-logger: a real third-party
# forward-protocol client; systemd: systemd-analyze verify of the forwarder's unit).
mapfile -t want < <(grep -v '^\s*#' scripts/apt-packages.txt | grep -v '^\s*$')
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm packages pinned by lockfiles (emulators run from the registry).
for t in node npm; do
  command -v "$t" >/dev/null 2>&1 || { say "$t not found: install Node.js >= 18 with npm (Debian: apt-get install nodejs npm)"; exit 1; }
done
for dir in local/npm; do
  [ -f "$dir/package-lock.json" ] || continue
  sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$dir/node_modules/.spillway-lock-sha256" 2>/dev/null)" != "$sum" ]; then
    say "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$sum" > "$dir/node_modules/.spillway-lock-sha256"
  fi
done

# Tools that cannot come from a package registry here: say clearly what is missing.
ok=1
if ! command -v moto_server >/dev/null 2>&1; then
  say "moto_server not found: install it with  pip install 'moto[server]'  (DynamoDB, S3, Kinesis, ... emulator)"
  ok=0
fi
if ! command -v terraform >/dev/null 2>&1; then
  say "terraform not found: install Terraform >= 1.6 (https://developer.hashicorp.com/terraform/install)"
  ok=0
fi
for t in zip python3; do
  command -v "$t" >/dev/null 2>&1 || { say "$t not found"; ok=0; }
done
[ "$ok" = 1 ] || exit 1
