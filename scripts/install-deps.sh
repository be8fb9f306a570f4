#!/usr/bin/env bash
# Installs everything Aethel Lattice needs to build, test and run on a fresh
# Debian bookworm machine. Run as root; safe to run again (skips what is present).
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  clang-14 libclang-rt-14-dev clang-format universal-ctags
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libz3-dev libfmt-dev libsodium-dev liblmdb-dev prometheus-cpp-dev libssl-dev openssl
  libjemalloc-dev   # the node's allocator (src/cli/CMakeLists.txt)
  libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
  curl jq
  nftables iproute2
  etcd-server etcd-client wrk   # the reference and load tools of bench/wan (issue 10)
  chromium fonts-noto-color-emoji
  prometheus python3   # promtool and a slow socket client: tests/ecosystem (issue 16)
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]} (run this script as root)" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
