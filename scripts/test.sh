#!/usr/bin/env bash
# The whole test suite: set-up, static checks, unit tests (fake kernel) and integration tests
# (throwaway network namespaces, real traffic). Needs root for the namespaces.
set -euo pipefail
# Root is needed (network namespaces).
. "$(dirname "$0")/lib/need-root.sh"
cd "$(dirname "$0")/.."
./scripts/setup.sh
npm run --silent typecheck
npm run --silent lint
npx vitest run
