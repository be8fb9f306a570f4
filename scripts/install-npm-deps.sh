#!/usr/bin/env bash
# Installs the exact npm packages pinned in tests/p2p/interop/package-lock.json (js-libp2p
# 3.x, used by the p2p interop tests), tests/dashboard/package-lock.json (playwright-core,
# used by the dashboard browser tests), tests/ecosystem/package-lock.json (an OpenAPI
# validator, Ajv and a YAML parser) and clients/typescript/package-lock.json (typescript
# and openapi-typescript, which build the client and its types). Needs Node 20+ and npm on PATH. Safe to run again:
# skips the install when node_modules already matches the lock file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-npm-deps: node and npm are required (Node 20 or later)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "install-npm-deps: Node $(node --version) is too old; js-libp2p 3.x needs Node 20+" >&2
  exit 1
fi

# npm ci of one folder's pinned packages, unless its node_modules already matches the lock.
install_pinned() {
  local dir=$1 what=$2
  cd "$root/$dir"
  if [[ -f node_modules/.package-lock.json && node_modules/.package-lock.json -nt package-lock.json ]]; then
    echo "install-npm-deps: $dir/node_modules is up to date"
    return
  fi
  echo "install-npm-deps: installing pinned $what into $dir"
  npm ci --no-audit --no-fund --loglevel=error
}
install_pinned tests/p2p/interop "js-libp2p packages"
# playwright-core drives Debian's chromium (/usr/bin/chromium, scripts/install-deps.sh);
# it never downloads a browser of its own.
install_pinned tests/dashboard "playwright-core"
# @readme/openapi-parser, ajv and yaml: the OpenAPI and monitoring tests (issue 16).
install_pinned tests/ecosystem "OpenAPI and YAML test packages"
# typescript and openapi-typescript: the TypeScript client's build (issue 16).
install_pinned clients/typescript "the TypeScript client's build tools"
