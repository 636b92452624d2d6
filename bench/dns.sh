#!/usr/bin/env bash
# npm run bench:dns — the embedded DNS server against dnsmasq and aardvark-dns, side by side.
#
# Everything runs in a throwaway network namespace (removed on exit, also on failure) over
# loopback addresses only. The same 1000 names (ctr0..ctr999) are served by each server; dnsperf
# asks them in random order: RUNS saturated runs (median qps), then a run at a fixed RATE with
# per-query latencies. Servers are pinned to CPU 1 and dnsperf to CPU 0, so "one core" is one core.
# weft runs its real `weft dns` on 1000 containers of a network 10.77.0.0/16, applied for real
# (1000 namespaces, each with weft's sockets on 127.0.0.11:53): dnsperf runs inside ctr0's
# namespace and asks 127.0.0.11, so weft answers it as the container it is (its socket names it).
#
# Environment: DURATION (s per run, default 10), RUNS (default 3), RATE (qps, default 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench:dns needs root (it creates a network namespace)" >&2; exit 1; }

DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
RATE=${RATE:-5000}
N=1000
AARDVARK=/usr/lib/podman/aardvark-dns

missing=()
command -v dnsperf >/dev/null || missing+=(dnsperf)
command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
[ -x "$AARDVARK" ] || missing+=(aardvark-dns)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench:dns: installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -f dist/cli/main.js ] && [ -z "$(find src -newer dist/cli/main.js -name '*.ts' | head -1)" ] || npm run --silent build

NS="dnbench$$"
WORK="$(mktemp -d /tmp/weft-dnbench-XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/aardvark/aardvark.pid" ] && kill "$(cat "$WORK/aardvark/aardvark.pid")" 2>/dev/null || true
  sleep 0.2
  node dist/cli/main.js --host-netns "$NS" --state-dir "$WORK/state" destroy -f "$WORK/m" >/dev/null 2>&1 || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "/etc/netns/$NS" "$WORK"
  rmdir /etc/netns 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "/etc/netns/$NS" "$WORK/m" "$WORK/aardvark" "$WORK/state"
printf 'nameserver 127.0.0.1\n' > "/etc/netns/$NS/resolv.conf"

# The same 1000 names for every server (ctrI at 10.77.x.y, from .2 up).
awk -v n="$N" -v m="$WORK/m/bench.yaml" -v h="$WORK/hosts" -v a="$WORK/aardvark/bench" 'BEGIN {
  printf "apiVersion: weft/v1\nkind: Network\nmetadata: {name: bench}\nspec: {ipam: {config: [{subnet: 10.77.0.0/16, gateway: 10.77.0.1}]}}\n" > m
  print "127.0.0.3" > a
  for (i = 0; i < n; i++) {
    ip = sprintf("10.77.%d.%d", int((i + 2) / 256), (i + 2) % 256)
    printf "---\napiVersion: weft/v1\nkind: Container\nmetadata: {name: ctr%d}\nspec: {networks: {bench: {ipv4Address: %s}}}\n", i, ip > m
    printf "%s ctr%d\n", ip, i > h
    printf "%064x %s  ctr%d\n", i + 1, ip, i > a
    printf "ctr%d A\n", i
  }
}' | shuf --random-source=<(yes) > "$WORK/queries"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)

wait_answer() { # server source [namespace]
  for _ in $(seq 1 300); do
    [ -n "$(nsenter --net="/run/netns/${3:-$NS}" dig +short +time=1 +tries=1 -b "$2" "@$1" ctr5 2>/dev/null | grep -v '^;')" ] && return 0
    sleep 0.1
  done
  echo "bench:dns: server $1 does not answer" >&2; return 1
}

# dnsmasq 2.90, as peer-baselines.md §4 ran it.
nsenter --net="/run/netns/$NS" taskset -c 1 dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --addn-hosts="$WORK/hosts" \
  --listen-address=127.0.0.2 --bind-interfaces --port=53 --user=root --pid-file= 2>/dev/null &
PIDS+=($!); DNSMASQ=$!
# aardvark-dns (Podman's), standalone: it daemonizes and writes its pid file.
nsenter --net="/run/netns/$NS" taskset -c 1 "$AARDVARK" --config "$WORK/aardvark" -p 53 run >/dev/null 2>&1 || true
# weft: the containers applied for real, then the real `weft dns`, already inside the namespace
# (no re-exec: its pid is the server's).
echo "bench:dns: applying $N containers for weft" >&2
node dist/cli/main.js --host-netns "$NS" --state-dir "$WORK/state" apply -f "$WORK/m" >/dev/null
# Background commands are started directly (not through a function) so that $! is the server.
nsenter --net="/run/netns/$NS" env WEFT_IN_NETNS="$NS" taskset -c 1 node dist/cli/main.js --host-netns "$NS" --state-dir "$WORK/state" dns -f "$WORK/m" 2>"$WORK/weft.log" &
PIDS+=($!); WEFT=$!

# The Node floor: a bare node:dgram responder with one fixed answer (bench/node-floor.mjs).
nsenter --net="/run/netns/$NS" taskset -c 1 node bench/node-floor.mjs 127.0.0.4 53 &
PIDS+=($!); FLOOR=$!

wait_answer 127.0.0.2 127.0.0.1
wait_answer 127.0.0.4 127.0.0.1
wait_answer 127.0.0.3 127.0.0.1
wait_answer 127.0.0.11 127.0.0.1 "$NS-ctr0"
AARDPID=$(cat "$WORK/aardvark/aardvark.pid")

# run NAME SERVER SOURCE PID [NAMESPACE of the client] -> one table row
measure() {
  local name=$1 server=$2 src=$3 pid=$4 qps=() cpu=() us=() out c0 c1 t0 t1
  local client="/run/netns/${5:-$NS}"
  for r in $(seq 1 "$RUNS"); do
    c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
    out=$(nsenter --net="$client" taskset -c 0 dnsperf -s "$server" -a "$src" -d "$WORK/queries" -l "$DURATION" -c 8 -q 100 2>&1)
    c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
    qps+=("$(awk '/Queries per second/ {printf "%d", $4}' <<<"$out")")
    cpu+=("$(awk -v a="$c0" -v b="$c1" -v t="$TCK" -v s="$t0" -v e="$t1" 'BEGIN {printf "%d", 100 * (b - a) / t / (e - s)}')")
    # Server CPU time per answered query: the figure that load on the machine disturbs least.
    us+=("$(awk -v a="$c0" -v b="$c1" -v t="$TCK" '/Queries completed/ {printf "%.1f", 1e6 * (b - a) / t / $3}' <<<"$out")")
    grep -q 'NOERROR [0-9]* (100.00%)' <<<"$out" || { echo "bench:dns: $name did not answer every query NOERROR:" >&2; grep -E 'Response codes|lost' <<<"$out" >&2; }
  done
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  nsenter --net="$client" taskset -c 0 dnsperf -s "$server" -a "$src" -d "$WORK/queries" -l "$DURATION" -c 8 -Q "$RATE" -v 2>/dev/null \
    | awk '/^> / {print $NF * 1000}' | sort -g > "$WORK/lat"
  c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  local cpu_rate lat median
  cpu_rate=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" -v s="$t0" -v e="$t1" 'BEGIN {printf "%d", 100 * (b - a) / t / (e - s)}')
  lat=$(awk '{v[NR] = $1} END {n = NR; split("0.5 0.9 0.99 0.999", q, " "); for (i = 1; i <= 4; i++) {k = int(q[i] * n); if (k < 1) k = 1; printf "%s%.3f", (i > 1 ? " / " : ""), v[k]}}' "$WORK/lat")
  median=$(printf '%s\n' "${qps[@]}" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
  local lo hi
  lo=$(printf '%s\n' "${qps[@]}" | sort -n | head -1); hi=$(printf '%s\n' "${qps[@]}" | sort -n | tail -1)
  local cpumed
  cpumed=$(printf '%s\n' "${cpu[@]}" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
  local usmed
  usmed=$(printf '%s\n' "${us[@]}" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
  echo "$name|$median|$lo|$hi|$cpumed|$usmed|$lat|$cpu_rate"
}

echo "bench:dns: $RUNS x ${DURATION}s saturated + ${DURATION}s at $RATE qps per server; this takes about $(( 4 * (RUNS + 1) * DURATION + 10 )) s" >&2
rows=()
rows+=("$(measure 'dnsmasq' 127.0.0.2 127.0.0.1 "$DNSMASQ")")
rows+=("$(measure 'aardvark-dns' 127.0.0.3 127.0.0.1 "$AARDPID")")
rows+=("$(measure 'weft dns' 127.0.0.11 127.0.0.1 "$WEFT" "$NS-ctr0")")
rows+=("$(measure 'Node dgram floor (fixed answer)' 127.0.0.4 127.0.0.1 "$FLOOR")")

base=$(cut -d'|' -f2 <<<"${rows[0]}")
cpuinfo=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
echo
echo "Machine: $(nproc) CPUs ($cpuinfo), kernel $(uname -r); servers pinned to CPU 1, dnsperf to CPU 0."
echo "Versions: dnsmasq $(dnsmasq --version | awk 'NR == 1 {print $3}'), aardvark-dns $("$AARDVARK" --version 2>/dev/null | awk '{print $2}'), weft $(node -p 'require("./package.json").version') on Node $(node -v | tr -d v) with dns2 $(node -p 'require("dns2/package.json").version'), $(dnsperf -h 2>&1 | awk '/^Version/ {print "dnsperf " $2; exit}' || true)."
echo "$N names, ${RUNS} x ${DURATION} s saturated (dnsperf -c 8 -q 100), then ${DURATION} s at $RATE qps (-Q $RATE -v)."
echo
baseus=$(cut -d'|' -f6 <<<"${rows[0]}")
echo "| server | qps (median) | range | qps vs dnsmasq | server CPU saturated | CPU µs/query | CPU/query vs dnsmasq | p50 / p90 / p99 / p99.9 ms at $RATE qps | server CPU at $RATE qps |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in "${rows[@]}"; do
  IFS='|' read -r name med lo hi cpu us lat cpur <<<"$r"
  ratio=$(awk -v a="$med" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
  usratio=$(awk -v a="$us" -v b="$baseus" 'BEGIN {printf "%.2f", a / b}')
  echo "| $name | $med | $lo–$hi | $ratio | $cpu% | $us | $usratio | $lat | $cpur% |"
done
