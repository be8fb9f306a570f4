#!/usr/bin/env bash
# Issue 14's side-by-side benchmark: a 3-node Aethel lattice (scripts/run-lattice.sh: P2P,
# fsync on) and a 3-member etcd cluster (fsync on, puts through its JSON gateway) on
# loopback, both up at once and measured in turn with the same wrk, and the ratios.
#   verify32   POST /api/verify with the guide's transfer (1 unit, Alice and Bob in turn
#              so nobody runs dry), 32 connections to the leader  |  etcd put, 32 connections
#   verify1    the same with 1 connection (p50 is the number)     |  etcd put, 1 connection
#   batch      POST /api/lattice/transactions, 8 connections × 256 transfers per request
# Each line prints requests/s, p50 and p99 (wrk's own percentiles), and non-2xx answers;
# a measure with any non-2xx answer or socket error is reported as invalid.
# The measures run in ROUNDS rounds, aethel and etcd alternating within each, and the
# table shows each measure's median over the rounds: this machine's speed drifts by tens
# of percent within minutes, and measuring one system after the other let that drift
# decide a ratio (etcd gave 7,029 and 5,349 puts/s in two runs minutes apart).
#
# After a build (cmake --build build --target aethel):
#   bench/node/vs_etcd.sh
# Settings (environment):
#   DURATION_S=10   seconds per measure         ROUNDS=3         WRK_THREADS=2
#   BUILD_DIR=build OUT_DIR (default: a new directory under /tmp; logs and raw wrk output)
#   AETHEL_BIN (default: $BUILD_DIR/src/cli/aethel; another build, to compare two)
#   BASE_API_PORT=18101 BASE_P2P_PORT=19101 ETCD_BASE_PORT=23791 (3 consecutive ports each,
#   etcd uses ETCD_BASE_PORT+n for clients and +100+n for peers)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION_S=${DURATION_S:-10}
ROUNDS=${ROUNDS:-3}
WRK_THREADS=${WRK_THREADS:-2}
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-/tmp/aethel-vs-etcd.$$}
BASE_API_PORT=${BASE_API_PORT:-18101}
BASE_P2P_PORT=${BASE_P2P_PORT:-19101}
ETCD_BASE_PORT=${ETCD_BASE_PORT:-23791}
AETHEL_BIN=${AETHEL_BIN:-$BUILD_DIR/src/cli/aethel}
NODES=(1 2 3)
ETCD_PIDS=()

BENCH=vs-etcd
# shellcheck source=bench/node/wrk_lib.sh
source bench/node/wrk_lib.sh

write_wrk_scripts() {
  wrk_script "$OUT_DIR/verify.lua" <<'EOF'
local n = 0
request = function()
  n = n + 1
  local from, to = "Alice", "Bob"
  if n % 2 == 0 then from, to = "Bob", "Alice" end
  return wrk.format(nil, nil, nil,
    '{"code": "intent transfer { from: ' .. from .. ', to: ' .. to .. ', amount: 1 }"}')
end
EOF
  batch_script "$OUT_DIR/batch.lua"
  wrk_script "$OUT_DIR/etcd_put.lua" '{"key": "YmVuY2g=", "value": "YWV0aGVs"}'
}

# --- etcd -----------------------------------------------------------------------------

etcd_client_url() { echo "http://127.0.0.1:$((ETCD_BASE_PORT + $1 - 1))"; }
etcd_peer_url() { echo "http://127.0.0.1:$((ETCD_BASE_PORT + 100 + $1 - 1))"; }

etcd_up() {
  local cluster=() n
  for n in "${NODES[@]}"; do cluster+=("m$n=$(etcd_peer_url "$n")"); done
  local IFS=,
  ETCD_PIDS=()
  for n in "${NODES[@]}"; do
    etcd --name "m$n" --data-dir "$OUT_DIR/etcd/m$n" \
      --listen-peer-urls "$(etcd_peer_url "$n")" --initial-advertise-peer-urls "$(etcd_peer_url "$n")" \
      --listen-client-urls "$(etcd_client_url "$n")" --advertise-client-urls "$(etcd_client_url "$n")" \
      --initial-cluster "${cluster[*]}" --initial-cluster-state new \
      --initial-cluster-token aethel-vs-etcd --logger zap --log-outputs stderr \
      >"$OUT_DIR/etcd-m$n.log" 2>&1 &
    ETCD_PIDS+=($!)
  done
  local i
  for ((i = 0; i < 240; i++)); do
    ETCD_LEADER=$(etcd_leader) && return 0
    sleep 0.25
  done
  die "no etcd leader within 60 s; see $OUT_DIR/etcd-m*.log"
}

# The member whose status names itself as leader.
etcd_leader() {
  local n status
  for n in "${NODES[@]}"; do
    status=$(curl -fsS -m 2 -X POST -d '{}' "$(etcd_client_url "$n")/v3/maintenance/status" 2>/dev/null) || continue
    local self leader
    self=$(grep -o '"member_id":"[0-9]*"' <<<"$status" | grep -o '[0-9]\+') || continue
    leader=$(grep -o '"leader":"[0-9]*"' <<<"$status" | grep -o '[0-9]\+') || continue
    if [[ $self == "$leader" ]]; then
      etcd_client_url "$n"
      return 0
    fi
  done
  return 1
}

etcd_down() {
  local pid
  for pid in "${ETCD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${ETCD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# --- the table ------------------------------------------------------------------------

valid() { [[ $(field "$1" non2xx) == 0 && $(field "$1" socket_errors) == 0 ]]; }

# median NAME KEY: KEY's median over the rounds of measure NAME (NAME_r1, NAME_r2, ...).
median() {
  local r
  for ((r = 1; r <= ROUNDS; r++)); do field "$1_r$r" "$2"; done |
    sort -g | awk '{ v[NR] = $1 } END { printf "%s", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The 32-connection ratio of each round, so the spread shows.
round_ratios() {
  local r ratios=()
  for ((r = 1; r <= ROUNDS; r++)); do
    ratios+=("$(ratio "$(field "aethel_verify32_r$r" rps)" "$(field "etcd_put32_r$r" rps)")")
  done
  echo "${ratios[*]}"
}

print_table() {
  local name r
  for name in aethel_verify32 etcd_put32 aethel_verify1 etcd_put1 aethel_batch; do
    for ((r = 1; r <= ROUNDS; r++)); do
      valid "${name}_r$r" || echo "INVALID: ${name}_r$r had non-2xx answers or socket errors (see $OUT_DIR/${name}_r$r.wrk)"
    done
  done
  local a32 e32 a99 e99 a1 e1
  a32=$(median aethel_verify32 rps) e32=$(median etcd_put32 rps)
  a99=$(median aethel_verify32 p99_ms) e99=$(median etcd_put32 p99_ms)
  a1=$(median aethel_verify1 p50_ms) e1=$(median etcd_put1 p50_ms)
  cat <<EOF

Medians of $ROUNDS rounds of ${DURATION_S} s per measure (32-connection ratio per round: $(round_ratios)).

| measure | aethel | etcd | aethel / etcd | goal |
|---|---|---|---|---|
| 32 connections, requests/s | $a32 | $e32 | $(ratio "$a32" "$e32") | ≥ 3 |
| 32 connections, p99 ms | $a99 | $e99 | $(ratio "$a99" "$e99") | ≤ 1 |
| 1 connection, p50 ms | $a1 | $e1 | $(ratio "$a1" "$e1") | ≤ 1 |
| batch 8 × 256, transfers/s | $(awk -v r="$(median aethel_batch rps)" 'BEGIN { printf "%.0f", r * 256 }') | — | — | — |
| batch 8 × 256, p99 ms | $(median aethel_batch p99_ms) | — | — | < 50 |

Raw wrk output and logs: $OUT_DIR
EOF
}

main() {
  [[ -x $AETHEL_BIN ]] || die "$AETHEL_BIN is missing: build first (cmake --build $BUILD_DIR --target aethel)"
  local tool
  for tool in wrk etcd curl; do command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"; done
  mkdir -p "$OUT_DIR"
  OUT_DIR=$(cd "$OUT_DIR" && pwd)
  : >"$OUT_DIR/results.txt"
  write_wrk_scripts

  trap 'aethel_down; etcd_down' EXIT
  # The per-address write limit lifted: all load comes from one address, and this
  # measures the ledger, not the limiter.
  aethel_up AETHEL_RATE_LIMIT_WRITES_PER_S=1000000
  log "aethel leader: $LEADER"
  etcd_up
  log "etcd leader: $ETCD_LEADER"
  local r
  for ((r = 1; r <= ROUNDS; r++)); do
    measure "aethel_verify32_r$r" 32 "$OUT_DIR/verify.lua" "$LEADER/api/verify"
    measure "etcd_put32_r$r" 32 "$OUT_DIR/etcd_put.lua" "$ETCD_LEADER/v3/kv/put"
    measure "aethel_verify1_r$r" 1 "$OUT_DIR/verify.lua" "$LEADER/api/verify"
    measure "etcd_put1_r$r" 1 "$OUT_DIR/etcd_put.lua" "$ETCD_LEADER/v3/kv/put"
    measure "aethel_batch_r$r" 8 "$OUT_DIR/batch.lua" "$LEADER/api/lattice/transactions"
  done
  aethel_down
  etcd_down
  trap - EXIT
  # The stores: about 1.5 GB a run, of no use once measured (the logs stay).
  rm -rf "$OUT_DIR"/aethel/node*/data "$OUT_DIR/etcd"

  print_table
}

main "$@"
