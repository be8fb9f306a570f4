#!/usr/bin/env bash
# Issue 14: a retry long after its original, on the default retention window (the ledger
# remembers 1,000,000 outcomes). A transfer with client id early-1 commits; batch load
# (8 connections × 256 transfers, wrk) then applies at least RETRY_AFTER transfers;
# the same request again must be answered with the original outcome and
# "exists": true, and move nothing. Then every node is stopped and started again, and
# the retry is asked once more. The lattice is scripts/run-lattice.sh's (3 nodes, P2P,
# fsync).
#
# After a build (cmake --build build --target aethel):
#   bench/node/late_retry.sh
# Settings (environment):
#   RETRY_AFTER=2000000  transfers between the original and the retry
#   CHUNK_S=10           seconds per wrk run (runs repeat until RETRY_AFTER is reached)
#   BUILD_DIR=build OUT_DIR (default: a new directory under /tmp)
#   BASE_API_PORT=18201 BASE_P2P_PORT=19201
set -euo pipefail
cd "$(dirname "$0")/../.."
RETRY_AFTER=${RETRY_AFTER:-2000000}
CHUNK_S=${CHUNK_S:-10}
DURATION_S=$CHUNK_S
WRK_THREADS=2
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-/tmp/aethel-late-retry.$$}
BASE_API_PORT=${BASE_API_PORT:-18201}
BASE_P2P_PORT=${BASE_P2P_PORT:-19201}
AETHEL_BIN=$BUILD_DIR/src/cli/aethel

BENCH=late-retry
# shellcheck source=bench/node/wrk_lib.sh
source bench/node/wrk_lib.sh

EARLY='{"transactions": [{"id": "early-1", "from": "Alice", "to": "Charlie", "amount": 7}]}'

post_early() { curl -fsS -m 30 -H 'Content-Type: application/json' -d "$EARLY" "$LEADER/api/lattice/transactions"; }
json_field() { grep -o "\"$1\": *[a-z0-9]*" | head -1 | sed 's/.*: *//'; }
charlie() { curl -fsS -m 5 "$LEADER/api/lattice/accounts/Charlie" | json_field balance; }

# check_retry WHEN HEIGHT: the retry is the original (committed at HEIGHT), Charlie got 7 once.
check_retry() {
  local when=$1 height=$2 answer exists at
  answer=$(post_early) || die "$when: the retry failed"
  exists=$(json_field exists <<<"$answer")
  at=$(grep -o '"results".*' <<<"$answer" | json_field height)
  log "$when: exists=$exists height=$at (original $height), Charlie=$(charlie)"
  echo "$when exists=$exists height=$at original_height=$height charlie=$(charlie)" >>"$OUT_DIR/results.txt"
  [[ $exists == true && $at == "$height" && $(charlie) == $((250 + 7)) ]] ||
    die "$when: the retry was applied again or answered wrongly: $answer"
}

main() {
  prepare_batch_bench

  trap 'aethel_down' EXIT
  aethel_up AETHEL_RATE_LIMIT_WRITES_PER_S=1000000
  local answer height applied=0 run=0 rps
  answer=$(post_early) || die "the original transfer failed"
  height=$(grep -o '"results".*' <<<"$answer" | json_field height)
  log "early-1 committed at height $height"
  while ((applied < RETRY_AFTER)); do
    run=$((run + 1))
    measure "batch$run" 8 "$OUT_DIR/batch.lua" "$LEADER/api/lattice/transactions"
    rps=$(field "batch$run" rps)
    applied=$(awk -v a="$applied" -v r="$rps" -v s="$CHUNK_S" 'BEGIN { printf "%d", a + r * s * 256 }')
    log "about $applied transfers applied since early-1"
  done
  echo "transfers_after_original=$applied" >>"$OUT_DIR/results.txt"
  check_retry "after $applied transfers" "$height"
  aethel_down
  aethel_up AETHEL_RATE_LIMIT_WRITES_PER_S=1000000
  check_retry "after a restart of every node" "$height"
  trap - EXIT
  aethel_down
  cat "$OUT_DIR/results.txt"
}

main "$@"
