#!/usr/bin/env bash
# DNS latency as a container sees it (p50/p90/p99/max over UDP and TCP), for before/after
# comparisons of the embedded DNS: a throwaway host namespace, N containers on one network
# applied for real, `weft dns` running, and bench/dns-latency-client.mjs inside ctr0's namespace
# asking 127.0.0.11 for ctr1 COUNT times, one query at a time.
# Usage (root): bench/dns-latency.sh [WEFT_DIR (default: this checkout)] [N=50] [COUNT=3000]
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
WEFT_DIR="${1:-$HERE}"
N="${2:-50}"
COUNT="${3:-3000}"
NS="dnslat$$"
WORK="$(mktemp -d /tmp/weft-dnslat-XXXXXX)"
WEFT=(node "$WEFT_DIR/dist/cli/main.js" --host-netns "$NS" --state-dir "$WORK/state")
DNS_PID=""
cleanup() {
  [ -n "$DNS_PID" ] && kill "$DNS_PID" 2>/dev/null && wait "$DNS_PID" 2>/dev/null || true
  "${WEFT[@]}" destroy -f "$WORK/m" >/dev/null 2>&1 || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "/etc/netns/$NS" "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "/etc/netns/$NS" "$WORK/m" "$WORK/state"
printf 'nameserver 127.0.0.1\n' > "/etc/netns/$NS/resolv.conf"
{
  printf "apiVersion: weft/v1\nkind: Network\nmetadata: {name: lat}\nspec: {ipam: {config: [{subnet: 10.78.0.0/16}]}}\n"
  for i in $(seq 0 $((N - 1))); do printf -- "---\napiVersion: weft/v1\nkind: Container\nmetadata: {name: ctr%d}\nspec: {networks: [lat]}\n" "$i"; done
} > "$WORK/m/lat.yaml"
"${WEFT[@]}" apply -f "$WORK/m" >/dev/null 2>&1
"${WEFT[@]}" dns -f "$WORK/m" 2>"$WORK/dns.log" &
DNS_PID=$!
CTR="$NS-ctr0"
for _ in $(seq 1 150); do
  [ -n "$(ip netns exec "$CTR" dig +short +time=1 +tries=1 @127.0.0.11 ctr1 2>/dev/null | grep -v '^;')" ] && break
  sleep 0.2
done
echo "weft: $(git -C "$WEFT_DIR" log -1 --format=%h 2>/dev/null || basename "$WEFT_DIR"), $N containers, load $(cut -d' ' -f1-3 /proc/loadavg)"
ip netns exec "$CTR" node "$HERE/bench/dns-latency-client.mjs" ctr1 "$COUNT" 1
