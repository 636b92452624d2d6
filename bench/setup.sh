#!/usr/bin/env bash
# What `npm run bench` needs beyond the tests: the peers it measures weft against (netavark, the
# CNI plugins, iptables for both) and the tools that count processes and memory (GNU time,
# strace). Installs only what is missing (needs root), builds weft and the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
SETUP_EXTRA_PACKAGES="netavark containernetworking-plugins iptables time strace" ./scripts/setup.sh
npx tsc -p bench/tsconfig.json
