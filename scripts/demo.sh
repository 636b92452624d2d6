#!/usr/bin/env bash
# weft's main job on a self-contained example: a throwaway "host" namespace gets the seed's
# walkthrough (default bridge, a user-defined network, a container on both), then real traffic,
# then everything is destroyed. Nothing touches this machine's own network namespace.
set -euo pipefail
# Root is needed (network namespaces).
. "$(dirname "$0")/lib/need-root.sh"
cd "$(dirname "$0")/.."
./scripts/setup.sh

HOST="weft-demo-$$"
STATE="$(mktemp -d)"
weft() { node dist/cli/main.js --host-netns "$HOST" --state-dir "$STATE" "$@"; }
DNS_PID=""
cleanup() {
  [ -n "$DNS_PID" ] && kill "$DNS_PID" 2>/dev/null && wait "$DNS_PID" 2>/dev/null || true
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${HOST}(-|$)" | sort -r); do ip netns del "$ns"; done
  rm -rf "/etc/netns/${HOST}" /etc/netns/"${HOST}"-* "$STATE"
  rmdir /etc/netns 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$HOST"
ip -n "$HOST" link set lo up

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
step weft plan -f examples/walkthrough;                   weft plan -f examples/walkthrough
step weft apply -f examples/walkthrough;                  weft apply -f examples/walkthrough
step weft apply -f examples/walkthrough "# again: nothing to do"; weft apply -f examples/walkthrough
step weft exec container1 -- ping -c2 172.17.0.3;         weft exec container1 -- ping -c2 172.17.0.3
step weft exec container2 -- ping -c2 172.21.0.3;         weft exec container2 -- ping -c2 172.21.0.3
step weft exec container3 -- ping -c1 -W1 172.17.0.2 "# isolated: fails"
weft exec container3 -- ping -c1 -W1 172.17.0.2 || echo "(unreachable, as it should be)"
step weft exec container1 -- cat /etc/hosts;              weft exec container1 -- cat /etc/hosts
step "weft dns -f examples/walkthrough &" "# the embedded DNS server, in the host namespace"
node dist/cli/main.js --host-netns "$HOST" --state-dir "$STATE" dns -f examples/walkthrough & DNS_PID=$!
for _ in $(seq 1 50); do weft exec container2 -- getent hosts container3 >/dev/null 2>&1 && break; sleep 0.2; done
step weft exec container2 -- ping -c1 container3;         weft exec container2 -- ping -c1 container3
step weft exec container2 -- dig +short container3;       weft exec container2 -- dig +short container3
step weft exec container1 -- getent hosts container3 "# default bridge: no embedded DNS"
weft exec container1 -- getent hosts container3 || echo "(not resolvable from the default bridge, as in Docker)"
step weft network ls;                                     weft network ls
step weft network inspect isolated_nw;                    weft network inspect isolated_nw
step weft destroy -f examples/walkthrough;                weft destroy -f examples/walkthrough
