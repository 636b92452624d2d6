#!/usr/bin/env bash
# Builds weft's container image from the repository's unchanged Dockerfile with no registry in
# reach, then runs `weft watch` from it against a throwaway network namespace and checks that the
# seed's walkthrough converges. See docs/image.md.
#
#   1. base: the Dockerfile's FROM (node:20-bookworm-slim) made locally: a debootstrap minbase of
#      this machine's Debian release plus this machine's Node 20 (node, npm, corepack copied into
#      /usr/local as the official image has them), cached as a tarball in .image-cache/ and
#      imported under the FROM's full name.
#   2. build: `buildah bud --pull=never --network host` (RUN steps use the machine's network for
#      apt-get and npm only; buildah creates no bridge, no firewall rule).
#   3. run: `podman run --network ns:/run/netns/NS` (the container's network IS the throwaway
#      namespace: podman's own networking is never used) with weft --host-netns NS, then checks
#      from outside: namespaces, links, addresses, nftables, ping, /healthz, an empty plan.
# Everything the run creates is removed on exit, also on failure. Needs root.
#
# Environment: IMAGE (tag to build, default localhost/weft:dev), WEFT_IMAGE_KEEP_BASE=1 keeps an
# already imported base image even when the cached tarball is newer.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "image: needs root (debootstrap, podman, ip netns)" >&2; exit 1; }

IMAGE="${IMAGE:-localhost/weft:dev}"
CACHE=.image-cache
# The FROM line names a Docker Hub short name; podman/buildah store it under its full name.
FROM_TAG="$(sed -n 's/^FROM \([^ ]*\).*/\1/p' Dockerfile | sort -u)"
[ "$(wc -l <<< "$FROM_TAG")" = 1 ] || { echo "image: expected one base image in Dockerfile, got: $FROM_TAG" >&2; exit 1; }
case "$FROM_TAG" in */*/*) BASE_TAG="$FROM_TAG" ;; */*) BASE_TAG="docker.io/$FROM_TAG" ;; *) BASE_TAG="docker.io/library/$FROM_TAG" ;; esac
SUITE="$(. /etc/os-release && echo "$VERSION_CODENAME")"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

log() { printf 'image: %s\n' "$*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# --- tools -------------------------------------------------------------------------------------
# podman/buildah from Debian. runc, not crun: Debian 12's crun refuses cgroup v1/hybrid hosts
# ("cgroups in hybrid mode not supported"). --no-install-recommends keeps out slirp4netns and
# friends (nothing here uses podman's networking).
PACKAGES=(podman buildah runc conmon debootstrap iproute2 nftables curl iputils-ping jq)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The machine's own namespace before: nothing in this script may add a table or a link there.
root_tables() { nft list tables | sort; }
root_links() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort; }
TABLES_BEFORE="$(root_tables)"
LINKS_BEFORE="$(root_links)"

# --- cleanup -----------------------------------------------------------------------------------
NS="weft-image-$$"
CTR="weft-image-$$"
STATE=""
ROOTFS=""
cleanup() {
  local rc=$?
  set +e
  if podman container exists "$CTR" 2>/dev/null; then
    [ "$rc" = 0 ] || { log "container log (last 40 lines):"; podman logs --tail 40 "$CTR" >&2; }
    podman stop -t 10 "$CTR" >/dev/null 2>&1
    podman rm -f "$CTR" >/dev/null 2>&1
  fi
  # weft's container namespaces are named <host>-<container>; the host namespace last.
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${NS}(-|$)" | sort -r); do ip netns del "$ns"; done
  rm -rf "/etc/netns/${NS}" /etc/netns/"${NS}"-*
  [ -n "$STATE" ] && rm -rf "$STATE"
  if [ -n "$ROOTFS" ]; then
    # debootstrap mounts proc and sys in the target; a failure can leave them mounted.
    for m in $(findmnt -rn -o TARGET | grep -F "$ROOTFS" | sort -r); do umount -l "$m"; done
    rm -rf --one-file-system "$ROOTFS"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. base image -----------------------------------------------------------------------------
NODE_BIN="$(readlink -f "$(command -v node)")"
NODE_VERSION="$("$NODE_BIN" -v)"
case "$NODE_VERSION" in v20.*) ;; *) echo "image: the base needs Node 20, this machine has $NODE_VERSION" >&2; exit 1 ;; esac
NODE_LIB="$(dirname "$(dirname "$NODE_BIN")")/lib/node_modules"
[ -f "$NODE_LIB/npm/bin/npm-cli.js" ] || { echo "image: npm not found under $NODE_LIB" >&2; exit 1; }
# The name changes with what goes into the base (bump "r2" when the recipe below changes).
TARBALL="$CACHE/${SUITE}-minbase-node-${NODE_VERSION}-r2.tar"

t0="$(now)"
if [ ! -f "$TARBALL" ]; then
  mkdir -p "$CACHE"
  ROOTFS="$(mktemp -d /var/tmp/weft-rootfs.XXXXXX)"
  # debootstrap's own output is cached too, so a change below does not fetch Debian again.
  RAW="$CACHE/${SUITE}-minbase.tar"
  if [ -f "$RAW" ]; then
    tar -C "$ROOTFS" --numeric-owner -xpf "$RAW"
  else
    log "debootstrap --variant=minbase $SUITE (a few minutes, once)"
    debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
    tar -C "$ROOTFS" --numeric-owner -cf "$RAW.tmp" . && mv "$RAW.tmp" "$RAW"
  fi
  # Node as the official node image lays it out: /usr/local/bin/{node,npm,npx,corepack}.
  install -m 0755 "$NODE_BIN" "$ROOTFS/usr/local/bin/node"
  mkdir -p "$ROOTFS/usr/local/lib/node_modules"
  cp -a "$NODE_LIB/npm" "$ROOTFS/usr/local/lib/node_modules/"
  [ -d "$NODE_LIB/corepack" ] && cp -a "$NODE_LIB/corepack" "$ROOTFS/usr/local/lib/node_modules/"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
  [ -d "$NODE_LIB/corepack" ] && ln -s ../lib/node_modules/corepack/dist/corepack.js "$ROOTFS/usr/local/bin/corepack"
  chroot "$ROOTFS" /usr/bin/env -i /usr/local/bin/node -e 'process.exit(process.versions.node.startsWith("20.") ? 0 : 1)'
  # Slim like Docker's official Debian images: apt keeps no downloaded .deb files (an image's
  # `apt-get install` layer would otherwise carry ~100 MB of them), fetches no translations, and
  # dpkg installs no documentation, man pages or translations.
  cat > "$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  echo 'Acquire::Languages "none";' > "$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"
  cat > "$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
  chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin apt-get clean
  find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*.log
  # The image gets its resolv.conf and hosts from the engine.
  : > "$ROOTFS/etc/resolv.conf"
  tar -C "$ROOTFS" --numeric-owner -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
  rm -rf --one-file-system "$ROOTFS"
  ROOTFS=""
fi
if ! podman image exists "$BASE_TAG" || { [ -z "${WEFT_IMAGE_KEEP_BASE:-}" ] && [ "$TARBALL" -nt "$CACHE/imported" ]; }; then
  log "importing $TARBALL as $BASE_TAG"
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=${NODE_VERSION#v}" \
    --change 'CMD ["node"]' \
    --message "debootstrap --variant=minbase $SUITE + node $NODE_VERSION (scripts/image.sh)" \
    "$TARBALL" "$BASE_TAG" >/dev/null
  touch "$CACHE/imported"
fi
t1="$(now)"
log "base $BASE_TAG ready in $(secs "$t0" "$t1") s"

# --- 2. build ----------------------------------------------------------------------------------
RUNTIME=(--runtime runc)
BUILD_ARGS=(--pull=never --network host --layers)
# A machine whose npm reaches the registry through a TLS-inspecting proxy trusts that proxy's CA
# with npm's `cafile`. The build's `npm ci` needs the same trust: during RUN steps only, a
# directory with a global npmrc and the CA bundle is mounted over /usr/local/etc (npm's global
# config folder under the /usr/local prefix; empty in the base, so nothing is hidden and no mount
# point is left in any layer). The image itself never contains either file.
CAFILE="$(npm config get cafile 2>/dev/null || true)"
if [ -n "$CAFILE" ] && [ "$CAFILE" != null ] && [ "$CAFILE" != undefined ] && [ -f "$CAFILE" ]; then
  rm -rf "$CACHE/npm-etc" && mkdir -p "$CACHE/npm-etc"
  cp "$CAFILE" "$CACHE/npm-etc/build-ca.crt"
  echo "cafile=/usr/local/etc/build-ca.crt" > "$CACHE/npm-etc/npmrc"
  BUILD_ARGS+=(-v "$PWD/$CACHE/npm-etc:/usr/local/etc:ro")
  log "npm trusts $CAFILE here: mounted for the build's RUN steps only"
fi
log "buildah bud -t $IMAGE (Dockerfile unchanged)"
buildah bud "${RUNTIME[@]}" "${BUILD_ARGS[@]}" -t "$IMAGE" -f Dockerfile . > "$CACHE/build.log" 2>&1 \
  || { tail -40 "$CACHE/build.log" >&2; exit 1; }
t2="$(now)"
SIZE_BYTES="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
BASE_BYTES="$(podman image inspect --format '{{.Size}}' "$BASE_TAG")"
log "built $IMAGE in $(secs "$t1" "$t2") s: $((SIZE_BYTES / 1000000)) MB (base $((BASE_BYTES / 1000000)) MB)"

# --- 3. run ------------------------------------------------------------------------------------
ip netns add "$NS"
ip -n "$NS" link set lo up
# The throwaway host's upstream DNS: an address in the benchmark range that nothing answers.
mkdir -p "/etc/netns/$NS"
echo "nameserver 198.18.0.53" > "/etc/netns/$NS/resolv.conf"
STATE="$(mktemp -d /tmp/weft-image-state.XXXXXX)"

# The container's network namespace is the throwaway host itself (podman sets up no network),
# and weft is told so with --host-netns (its container namespaces are then named NS-<name>).
# WEFT_IMAGE_NETWORK=host runs it as the docker run line in docs/image.md does instead (the
# machine's network), still with --host-netns, so weft re-executes itself into NS and every
# command it runs enters NS.
# /run/netns rshared: the namespaces weft creates inside show outside. NET_ADMIN for links,
# addresses, routes, nftables; SYS_ADMIN for `ip netns add` (mounts) and nsenter (setns);
# NET_BROADCAST for the kernel monitor (`ip monitor all-nsid` sets NETLINK_LISTEN_ALL_NSID);
# unmask=/proc/sys because engines mount /proc/sys read-only and weft writes sysctls
# (ip_forward, route_localnet, ...) there (Docker: --security-opt systempaths=unconfined).
# --ulimit: podman as root raises nofile/nproc to the maximum by default, which fails where the
# engine lacks CAP_SYS_RESOURCE (as in this sandbox); the shell's own limits work everywhere.
RUN_ARGS=(--name "$CTR" -d
  --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=32768:32768
  --network "$([ "${WEFT_IMAGE_NETWORK:-ns}" = host ] && echo host || echo "ns:/run/netns/$NS")"
  --cap-add NET_ADMIN --cap-add SYS_ADMIN --cap-add NET_BROADCAST
  --security-opt unmask=/proc/sys
  -v /run/netns:/run/netns:rshared -v /etc/netns:/etc/netns
  -v "$STATE":/var/lib/weft
  -v "$PWD/examples/walkthrough":/etc/weft/manifests:ro
  "$IMAGE" --host-netns "$NS" watch -f /etc/weft/manifests)
log "podman run ${RUN_ARGS[*]}"
podman "${RUNTIME[@]}" run "${RUN_ARGS[@]}" >/dev/null

in_ns() { ip netns exec "$NS" "$@"; }
ready=""
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
  if in_ns curl -fsS -m 2 http://127.0.0.1:9847/readyz >/dev/null 2>&1; then ready=1; break; fi
  [ "$(podman inspect --format '{{.State.Running}}' "$CTR")" = true ] || { log "the container exited"; exit 1; }
  sleep 0.2
done
[ -n "$ready" ] || { log "/readyz never answered 200"; exit 1; }
t3="$(now)"
log "converged and ready $(secs "$t2" "$t3") s after podman run"

fail() { log "FAIL: $*"; exit 1; }
in_ns curl -fsS -m 2 http://127.0.0.1:9847/healthz > "$STATE/healthz" || fail "/healthz did not answer 200"
log "/healthz: $(tr -d '\n' < "$STATE/healthz" | cut -c1-120)"

# Observed from outside, with the kernel's own tools.
for c in container1 container2 container3; do
  ip netns list | awk '{print $1}' | grep -qx "$NS-$c" || fail "namespace $NS-$c missing"
done
addr_of() { ip -n "$NS-$1" -j -4 addr show | jq -r --arg p "$2" '.[].addr_info[] | select(.local | startswith($p)) | .local'; }
C1="$(addr_of container1 172.17.)"
C2_DEFAULT="$(addr_of container2 172.17.)"
C2_ISOLATED="$(addr_of container2 172.21.)"
C3="$(addr_of container3 172.21.)"
for v in C1 C2_DEFAULT C2_ISOLATED C3; do [ -n "${!v}" ] || fail "$v has no address"; done
[ -z "$(addr_of container1 172.21.)" ] || fail "container1 is on isolated_nw"
[ -z "$(addr_of container3 172.17.)" ] || fail "container3 is on the default bridge"
ip -n "$NS" -j link show type bridge | jq -e 'any(.[]; .ifname == "docker0")' >/dev/null || fail "docker0 missing"
BRIDGES="$(ip -n "$NS" -j link show type bridge | jq length)"
[ "$BRIDGES" -ge 2 ] || fail "expected docker0 and isolated_nw's bridge, found $BRIDGES bridges"
in_ns nft -j list tables | jq -e 'any(.nftables[]; .table.name? // "" | test("weft"))' >/dev/null || fail "no weft nftables table in $NS"
log "kernel: namespaces, $BRIDGES bridges, addresses $C1 $C2_DEFAULT/$C2_ISOLATED $C3, weft nftables tables"

ip netns exec "$NS-container1" ping -c2 -W2 "$C2_DEFAULT" >/dev/null || fail "container1 cannot ping container2 ($C2_DEFAULT)"
ip netns exec "$NS-container2" ping -c2 -W2 "$C3" >/dev/null || fail "container2 cannot ping container3 ($C3)"
if ip netns exec "$NS-container3" ping -c1 -W1 "$C1" >/dev/null 2>&1; then fail "container3 reaches container1 across networks"; fi
log "ping: container1 -> container2, container2 -> container3 work; container3 -> container1 is isolated"

# The image's own weft sees nothing left to do.
PLAN="$(podman exec "$CTR" weft --host-netns "$NS" plan -f /etc/weft/manifests)"
if grep -qE '^[+~-] ' <<< "$PLAN"; then fail "plan from the image is not empty: $PLAN"; fi
log "plan from inside the image: nothing to change"

# Drift: remove a container's namespace behind the daemon's back; it must put it back, and
# because the kernel monitor saw it (trigger "drift"), not at the next periodic resync.
t4="$(now)"
ip netns del "$NS-container3"
back=""
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
  if [ -n "$(addr_of container3 172.21. 2>/dev/null)" ]; then back=1; break; fi
  sleep 0.2
done
[ -n "$back" ] || fail "the daemon did not restore container3's namespace"
t5="$(now)"
ip netns exec "$NS-container2" ping -c2 -W2 "$(addr_of container3 172.21.)" >/dev/null || fail "container3 unreachable after repair"
podman logs "$CTR" 2>&1 | jq -e -R 'fromjson? | select(.trigger == "drift" and .result == "applied")' >/dev/null \
  || fail "the repair was not triggered by the kernel monitor (no reconcile with trigger drift)"
log "drift: container3's namespace deleted, the kernel monitor saw it, the daemon restored it"

# A daemon that works but complains (a monitor restarting, a failed reconcile) is not a pass.
WARNINGS="$(podman logs "$CTR" 2>&1 | jq -c -R 'fromjson? | select(.level >= 40)')"
[ -z "$WARNINGS" ] || fail "the daemon logged warnings or errors: $WARNINGS"

podman stop -t 10 "$CTR" >/dev/null
EXIT_CODE="$(podman inspect --format '{{.State.ExitCode}}' "$CTR")"
[ "$EXIT_CODE" = 0 ] || fail "weft watch exited $EXIT_CODE on SIGTERM"
podman rm "$CTR" >/dev/null

[ "$(root_tables)" = "$TABLES_BEFORE" ] || fail "nftables tables in the machine's namespace changed: $(diff <(echo "$TABLES_BEFORE") <(root_tables))"
[ "$(root_links)" = "$LINKS_BEFORE" ] || fail "links in the machine's namespace changed: $(diff <(echo "$LINKS_BEFORE") <(root_links))"
log "machine namespace: no new nftables table, no new link"

printf 'image: PASS  image %s  size %s MB  base %s s  build %s s  run-to-ready %s s  drift repaired in %s s\n' \
  "$IMAGE" "$((SIZE_BYTES / 1000000))" "$(secs "$t0" "$t1")" "$(secs "$t1" "$t2")" "$(secs "$t2" "$t3")" "$(secs "$t4" "$t5")"
