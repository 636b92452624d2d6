#!/usr/bin/env bash
# Installs what weft and its tests need on a fresh Debian machine, then builds weft.
# Idempotent: packages already present are not reinstalled; npm ci runs when the lock file changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the kernel tools weft drives, and what the tests use for real traffic.
# graphviz: `weft graph --format svg` lays its pictures out with dot; openssl: the store TLS test makes its
# certificates; strace: the test that no child process is started; zookeeperd: the second membership store.
PACKAGES=(iproute2 nftables iputils-ping dnsutils socat util-linux procps git dnsmasq-base curl tcpdump etcd-server openssl graphviz strace zookeeperd containernetworking-plugins)
# More for a caller that needs them (bench/setup.sh: the peers it measures weft against).
read -r -a extra <<< "${SETUP_EXTRA_PACKAGES:-}"
PACKAGES+=("${extra[@]}")
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  # zookeeperd would start the system ZooKeeper on 0.0.0.0:2181: the tests start their own inside
  # a test namespace, so no package may start a service while installing (policy-rc.d says no).
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  if [ -n "$policy" ]; then rm -f "$policy"; fi
fi
# On a machine with systemd the unit may still be enabled: stop and disable it, never rely on it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled zookeeper >/dev/null 2>&1; then
  systemctl disable --now zookeeper >/dev/null 2>&1 || true
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
