#!/usr/bin/env bash
# Issue 14: batch load for MINUTES minutes on scripts/run-lattice.sh's lattice (3 nodes,
# P2P, fsync): POST /api/lattice/transactions, 8 connections × 256 transfers per request
# (Alice and Bob in turn, no client ids), measured minute by minute with wrk. Prints each
# minute's requests/s and p99, the last minute's p99 over the first's, and the leader's
# anonymous memory (RssAnon, sampled each second): its maximum and its last value.
#
# After a build (cmake --build build --target aethel):
#   bench/node/soak.sh
# Settings (environment):
#   MINUTES=10
#   TX_RETENTION     unset: the built-in genesis (the ledger remembers 1,000,000 outcomes);
#                    N: the same accounts with policy {"tx_retention": N} (docs/LEDGER.md)
#   ACCOUNTS         unset: those 3 accounts; N (up to 1,000,000): the genesis also holds
#                    N - 3 more (a0000001...), which the load leaves alone: the memory of
#                    a big state under the same load
#   BUILD_DIR=build OUT_DIR (default: a new directory under /tmp)
#   BASE_API_PORT=18301 BASE_P2P_PORT=19301
set -euo pipefail
cd "$(dirname "$0")/../.."
MINUTES=${MINUTES:-10}
DURATION_S=60
WRK_THREADS=2
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-/tmp/aethel-soak.$$}
BASE_API_PORT=${BASE_API_PORT:-18301}
BASE_P2P_PORT=${BASE_P2P_PORT:-19301}
AETHEL_BIN=$BUILD_DIR/src/cli/aethel

BENCH=soak
# shellcheck source=bench/node/wrk_lib.sh
source bench/node/wrk_lib.sh

# write_genesis FILE ACCOUNTS [TX_RETENTION]: Alice, Bob and Charlie as in the built-in
# genesis, ACCOUNTS - 3 more holding 1 each, and the policy when a retention is given.
write_genesis() {
  local file=$1 accounts=$2 retention=$3
  {
    printf '{"accounts": {"Alice": 1000, "Bob": 500, "Charlie": 250'
    awk -v n="$accounts" 'BEGIN { for (i = 1; i <= n - 3; i++) printf ", \"a%07d\": 1", i }'
    printf '}'
    [[ -n $retention ]] && printf ', "policy": {"tx_retention": %d}' "$retention"
    printf '}\n'
  } >"$file"
}

main() {
  prepare_batch_bench
  local i settings=(AETHEL_RATE_LIMIT_WRITES_PER_S=1000000)
  if [[ -n ${TX_RETENTION:-} || -n ${ACCOUNTS:-} ]]; then
    write_genesis "$OUT_DIR/genesis.json" "${ACCOUNTS:-3}" "${TX_RETENTION:-}"
    settings+=("AETHEL_GENESIS_FILE=$OUT_DIR/genesis.json")
  fi

  trap 'aethel_down' EXIT
  aethel_up "${settings[@]}"
  local pid
  pid=$(leader_pid) || die "no pid for the leader in $OUT_DIR/run-lattice.out"
  sample_memory "$pid" "$OUT_DIR/memory.txt" &
  for ((i = 1; i <= MINUTES; i++)); do
    measure "minute$i" 8 "$OUT_DIR/batch.lua" "$LEADER/api/lattice/transactions"
  done
  local first last
  first=$(field minute1 p99_ms)
  last=$(field "minute$MINUTES" p99_ms)
  {
    echo "retention=${TX_RETENTION:-default} accounts=${ACCOUNTS:-3} p99_last_over_first=$(ratio "$last" "$first")"
    echo "leader_rss_anon_mb max=$(max_of "$OUT_DIR/memory.txt") last=$(tail -1 "$OUT_DIR/memory.txt")"
  } | tee -a "$OUT_DIR/results.txt"
  trap - EXIT
  aethel_down
}

main "$@"
