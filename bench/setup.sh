#!/usr/bin/env bash
# What `npm run bench` needs beyond scripts/setup.sh: the peers it measures weft against and the
# tools that count processes and memory. Idempotent; installs only what is missing (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(netavark containernetworking-plugins iptables time strace iproute2 nftables util-linux)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
npx tsc -p bench/tsconfig.json
