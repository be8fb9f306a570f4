#!/usr/bin/env bash
# Builds Aethel Lattice and runs what exists of a local lattice: the README's run
# command. Today that is the language toolchain (`aethel verify`); the 3-node
# loopback lattice replaces this demo as the node lands (see README "Status").
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}

./scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS" --target aethel

aethel=build/src/cli/aethel
for example in examples/*.ae; do
  echo "== aethel verify $example"
  "$aethel" verify "$example" || true
  echo
done
echo "Try your own: $aethel verify - <<< 'intent transfer { from: Alice, to: Bob, amount: 100 }'"
