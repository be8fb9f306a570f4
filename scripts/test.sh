#!/usr/bin/env bash
# Builds Aethel Lattice and runs every test: the README's test command.
#   1. installs missing Debian packages (scripts/install-deps.sh, needs root) and the
#      pinned npm packages of the js-libp2p interop tests (scripts/install-npm-deps.sh)
#   2. checks formatting (clang-format) and function length (at most 70 lines in src/
#      and sim/, scripts/check-function-length.sh)
#   3. release build (g++) and its ctest suite
#   4. ASan+UBSan build (clang) and its ctest suite, libFuzzer targets included
# JOBS=n limits parallelism (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}

./scripts/install-deps.sh
./scripts/install-npm-deps.sh

echo "== format check"
./scripts/format.sh --check

echo "== function length check"
./scripts/check-function-length.sh

echo "== release build (g++)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"
(cd build && ctest --output-on-failure -j"$JOBS" --timeout 900)

echo "== ASan+UBSan build (clang) with fuzzers"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAETHEL_SANITIZE=ON -DAETHEL_FUZZ=ON -DAETHEL_BENCH=OFF >/dev/null
cmake --build build-asan -j"$JOBS"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j"$JOBS" --timeout 900)
