#!/usr/bin/env bash
# The whole test suite: set-up, static checks, unit tests (fake kernel) and integration tests
# (throwaway network namespaces, real traffic). Needs root for the namespaces.
set -euo pipefail
# Root is needed (network namespaces): re-run with sudo when it is there, else say what to do.
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    echo "$0: needs root; re-running with sudo" >&2
    exec sudo -E "$0" "$@"
  fi
  echo "$0: needs root (it creates network namespaces) and sudo is not installed: run it from a root shell (su -)" >&2
  exit 1
fi
cd "$(dirname "$0")/.."
./scripts/setup.sh
npm run --silent typecheck
npm run --silent lint
npx vitest run
