#!/usr/bin/env bash
# Issue 14's side-by-side benchmark: a 3-node Aethel lattice (scripts/run-lattice.sh: P2P,
# fsync on) and a 3-member etcd cluster (fsync on, puts through its JSON gateway) on
# loopback, measured one after the other in one run with the same wrk, and the ratios.
#   verify32   POST /api/verify with the guide's transfer (1 unit, Alice and Bob in turn
#              so nobody runs dry), 32 connections to the leader  |  etcd put, 32 connections
#   verify1    the same with 1 connection (p50 is the number)     |  etcd put, 1 connection
#   batch      POST /api/lattice/transactions, 8 connections × 256 transfers per request
# Each line prints requests/s, p50 and p99 (wrk's own percentiles), and non-2xx answers;
# a measure with any non-2xx answer or socket error is reported as invalid.
#
# After a build (cmake --build build --target aethel):
#   bench/node/vs_etcd.sh
# Settings (environment):
#   DURATION_S=20   seconds per measure         WRK_THREADS=2
#   BUILD_DIR=build OUT_DIR (default: a new directory under /tmp; logs and raw wrk output)
#   BASE_API_PORT=18101 BASE_P2P_PORT=19101 ETCD_BASE_PORT=23791 (3 consecutive ports each,
#   etcd uses ETCD_BASE_PORT+n for clients and +100+n for peers)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION_S=${DURATION_S:-20}
WRK_THREADS=${WRK_THREADS:-2}
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-/tmp/aethel-vs-etcd.$$}
BASE_API_PORT=${BASE_API_PORT:-18101}
BASE_P2P_PORT=${BASE_P2P_PORT:-19101}
ETCD_BASE_PORT=${ETCD_BASE_PORT:-23791}
AETHEL_BIN=$BUILD_DIR/src/cli/aethel
NODES=(1 2 3)
LATTICE_PID=
ETCD_PIDS=()

log() { echo "vs-etcd: $*" >&2; }
die() {
  echo "vs-etcd: $*" >&2
  exit 1
}

# --- wrk scripts ----------------------------------------------------------------------

# Every script ends with the same report line, parsed by measure().
WRK_REPORT='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end'

# wrk_script FILE [BODY]: a JSON POST script with BODY as every request's body, or with
# the Lua on stdin (a `request` function) when BODY is empty.
wrk_script() {
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    if [[ -n ${2:-} ]]; then echo "wrk.body = '$2'"; else cat; fi
    echo "$WRK_REPORT"
  } >"$1"
}

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
  local items=() i
  for ((i = 0; i < 128; i++)); do
    items+=('{"from": "Alice", "to": "Bob", "amount": 1}' '{"from": "Bob", "to": "Alice", "amount": 1}')
  done
  local IFS=,
  wrk_script "$OUT_DIR/batch.lua" "{\"transactions\": [${items[*]}]}"
  wrk_script "$OUT_DIR/etcd_put.lua" '{"key": "YmVuY2g=", "value": "YWV0aGVs"}'
}

# measure NAME CONNECTIONS SCRIPT URL: runs wrk, keeps its output, prints the RESULT line.
measure() {
  local name=$1 connections=$2 script=$3 url=$4 threads=$WRK_THREADS
  ((connections < threads)) && threads=$connections
  log "$name: $connections connection(s), ${DURATION_S}s → $url"
  wrk -t"$threads" -c"$connections" -d"${DURATION_S}s" --timeout 10s -s "$script" "$url" \
    >"$OUT_DIR/$name.wrk" 2>&1 || die "wrk failed for $name: $(cat "$OUT_DIR/$name.wrk")"
  local result
  result=$(grep '^RESULT ' "$OUT_DIR/$name.wrk") || die "no result for $name: $(cat "$OUT_DIR/$name.wrk")"
  echo "$name ${result#RESULT }" | tee -a "$OUT_DIR/results.txt" >&2
}

# --- aethel ---------------------------------------------------------------------------

aethel_url() { echo "http://127.0.0.1:$((BASE_API_PORT + $1 - 1))"; }

aethel_leader() {
  local n
  for n in "${NODES[@]}"; do
    if curl -fsS -m 2 "$(aethel_url "$n")/" 2>/dev/null | grep -q '"role": *"leader"'; then
      aethel_url "$n"
      return 0
    fi
  done
  return 1
}

# The lattice of the README's run command, with the per-address write limit lifted: the
# load comes from one address, and the benchmark measures the ledger, not the limiter.
aethel_up() {
  AETHEL_RATE_LIMIT_WRITES_PER_S=1000000 LATTICE_DIR=$OUT_DIR/aethel SKIP_BUILD=1 \
    AETHEL_BIN=$AETHEL_BIN BASE_API_PORT=$BASE_API_PORT BASE_P2P_PORT=$BASE_P2P_PORT \
    scripts/run-lattice.sh >"$OUT_DIR/run-lattice.out" 2>&1 &
  LATTICE_PID=$!
  local i
  for ((i = 0; i < 240; i++)); do
    LEADER=$(aethel_leader) && return 0
    kill -0 "$LATTICE_PID" 2>/dev/null || die "the lattice exited: $(tail -5 "$OUT_DIR/run-lattice.out")"
    sleep 0.25
  done
  die "no aethel leader within 60 s; see $OUT_DIR/aethel/logs"
}

aethel_down() {
  kill -TERM "$LATTICE_PID" 2>/dev/null || true
  wait "$LATTICE_PID" 2>/dev/null || true
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

field() { grep "^$1 " "$OUT_DIR/results.txt" | grep -o "$2=[0-9.]*" | cut -d= -f2; }
valid() { [[ $(field "$1" non2xx) == 0 && $(field "$1" socket_errors) == 0 ]]; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

print_table() {
  local name
  for name in aethel_verify32 etcd_put32 aethel_verify1 etcd_put1 aethel_batch; do
    valid "$name" || echo "INVALID: $name had non-2xx answers or socket errors (see $OUT_DIR/$name.wrk)"
  done
  cat <<EOF

| measure | aethel | etcd | aethel / etcd | goal |
|---|---|---|---|---|
| 32 connections, requests/s | $(field aethel_verify32 rps) | $(field etcd_put32 rps) | $(ratio "$(field aethel_verify32 rps)" "$(field etcd_put32 rps)") | ≥ 3 |
| 32 connections, p99 ms | $(field aethel_verify32 p99_ms) | $(field etcd_put32 p99_ms) | $(ratio "$(field aethel_verify32 p99_ms)" "$(field etcd_put32 p99_ms)") | ≤ 1 |
| 1 connection, p50 ms | $(field aethel_verify1 p50_ms) | $(field etcd_put1 p50_ms) | $(ratio "$(field aethel_verify1 p50_ms)" "$(field etcd_put1 p50_ms)") | ≤ 1 |
| batch 8 × 256, transfers/s | $(awk -v r="$(field aethel_batch rps)" 'BEGIN { printf "%.0f", r * 256 }') | — | — | — |
| batch 8 × 256, p99 ms | $(field aethel_batch p99_ms) | — | — | < 50 |

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
  aethel_up
  log "aethel leader: $LEADER"
  measure aethel_verify32 32 "$OUT_DIR/verify.lua" "$LEADER/api/verify"
  measure aethel_verify1 1 "$OUT_DIR/verify.lua" "$LEADER/api/verify"
  measure aethel_batch 8 "$OUT_DIR/batch.lua" "$LEADER/api/lattice/transactions"
  aethel_down

  etcd_up
  log "etcd leader: $ETCD_LEADER"
  measure etcd_put32 32 "$OUT_DIR/etcd_put.lua" "$ETCD_LEADER/v3/kv/put"
  measure etcd_put1 1 "$OUT_DIR/etcd_put.lua" "$ETCD_LEADER/v3/kv/put"
  etcd_down
  trap - EXIT

  print_table
}

main "$@"
