#!/usr/bin/env bash
# Installs the exact npm packages pinned in tests/p2p/interop/package-lock.json (js-libp2p
# 3.x, used by the p2p interop tests). Needs Node 20+ and npm on PATH. Safe to run again:
# skips the install when node_modules already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/../tests/p2p/interop"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-npm-deps: node and npm are required (Node 20 or later)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "install-npm-deps: Node $(node --version) is too old; js-libp2p 3.x needs Node 20+" >&2
  exit 1
fi

if [[ -f node_modules/.package-lock.json && node_modules/.package-lock.json -nt package-lock.json ]]; then
  echo "install-npm-deps: tests/p2p/interop/node_modules is up to date"
  exit 0
fi
echo "install-npm-deps: installing pinned js-libp2p packages into tests/p2p/interop"
npm ci --no-audit --no-fund --loglevel=error
