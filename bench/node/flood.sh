#!/usr/bin/env bash
# Issue 13's flood benchmark: what honest clients of a 3-node lattice (scripts/run-lattice.sh:
# P2P, fsync on) get while one address floods the leader with hard definitions and another
# with cheap writes, against the same clients on the unloaded lattice, in one run.
#   others        POST /api/lattice/transactions, one transfer each, 4 connections; each
#                 request names one of 254 client addresses (198.51.100.x) in turn
#   probe         one client (192.0.2.1) sending signed transfers (SPEC §8) from the owned
#                 account Probe to POST /api/verify, 20 a second on 1 connection: its p99,
#                 and how many committed (the account's nonce counts them)
#   flood_verify  64 connections of POST /api/verify, four hard definitions each (cubic
#                 guards that cost the solver its whole timer), all from 203.0.113.66
#   flood_writes  16 connections of cheap transfers as fast as the node answers, all
#                 from 203.0.113.99
# The nodes trust 127.0.0.1 as a reverse proxy (AETHEL_TRUSTED_PROXIES), so the
# X-Forwarded-For header each request carries is its client address, as behind a real
# proxy. The leader's anonymous memory (RssAnon, sampled each second) is reported too.
#
# After a build (cmake --build build --target aethel):
#   bench/node/flood.sh
# Settings (environment):
#   DURATION_S=15      seconds per measure (the floods run 10 s longer)
#   RATE_LIMIT=200     AETHEL_RATE_LIMIT_WRITES_PER_S of the nodes
#   WRK_THREADS=2      BUILD_DIR=build   OUT_DIR (default: a new directory under /tmp)
#   BASE_API_PORT=18201 BASE_P2P_PORT=19201 (3 consecutive ports each)
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION_S=${DURATION_S:-15}
RATE_LIMIT=${RATE_LIMIT:-200}
WRK_THREADS=${WRK_THREADS:-2}
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-/tmp/aethel-flood.$$}
BASE_API_PORT=${BASE_API_PORT:-18201}
BASE_P2P_PORT=${BASE_P2P_PORT:-19201}
AETHEL_BIN=$BUILD_DIR/src/cli/aethel
FLOOD_PIDS=()
SAMPLER_PID=

BENCH=flood
# shellcheck source=bench/node/wrk_lib.sh
source bench/node/wrk_lib.sh

# transfer_lua ADDRESS: one transfer of 1 per request (Alice and Bob in turn) from the
# client address a Lua expression of the request number n gives.
transfer_lua() {
  cat <<LUA
local n = 0
request = function()
  n = n + 1
  local from, to = "Alice", "Bob"
  if n % 2 == 0 then from, to = "Bob", "Alice" end
  return wrk.format(nil, nil, {["Content-Type"] = "application/json", ["X-Forwarded-For"] = $1},
    '{"transactions": [{"from": "' .. from .. '", "to": "' .. to .. '", "amount": 1}]}')
end
LUA
}

hard_definitions_json() {
  local code='' i
  for i in 1 2 3 4; do
    code+="intent h$i(a: Account, b: Account, x: Int, y: Int, z: Int) {\\n"
    code+="  guard { x > 1; y > 1; z > 1; x * x * x + y * y * y == z * z * z; }\\n"
    code+="  solve { priority: security; }\\n"
    code+="  verify { a == old_a - x; b == old_b + x; a >= 0; }\\n}\\n"
  done
  echo "{\"code\": \"$code\"}"
}

# The genesis: Alice and Bob without owner (the others and the floods move 1 between
# them), Probe owned by a key from `aethel account new`.
write_genesis() {
  local owner
  owner=$("$AETHEL_BIN" account new --out "$OUT_DIR/probe.key" 2>/dev/null) || die "aethel account new failed"
  cat >"$OUT_DIR/genesis.json" <<JSON
{"accounts": {"Alice": 1000000000, "Bob": 1000000000, "Probe": {"balance": 1000000, "owner": "$owner"}}}
JSON
}

probe_nonce() {
  curl -fsS -m 5 "$LEADER/api/lattice/accounts/Probe" | grep -o '"nonce": *[0-9]*' | grep -o '[0-9]*$'
}

# probe_script PHASE: the probe's wrk script for one phase: 2000 transfers signed ahead
# with the account's next nonces, sent in order, one each 50 ms.
probe_script() {
  local lattice_id first
  lattice_id=$(curl -fsS -m 5 "$LEADER/api/lattice/members" | grep -o '"lattice_id": *"[0-9a-f]*"' |
    grep -o '[0-9a-f]\{64\}')
  first=$(($(probe_nonce) + 1))
  {
    node bench/node/signed_probe.mjs "$OUT_DIR/probe.key" "$lattice_id" Probe Bob "$first" 2000
    cat <<'LUA'
-- The next body moves on with each answer, not with each call of request(): wrk calls
-- it once more than it sends.
local answered = 0
request = function()
  return wrk.format(nil, nil, {["Content-Type"] = "application/json", ["X-Forwarded-For"] = "192.0.2.1"},
    bodies[math.min(answered + 1, #bodies)])
end
response = function() answered = answered + 1 end
delay = function() return 50 end
LUA
  } | wrk_script "$OUT_DIR/probe_$1.lua"
}

write_wrk_scripts() {
  transfer_lua '"198.51.100." .. (n % 254 + 1)' | wrk_script "$OUT_DIR/others.lua"
  transfer_lua '"203.0.113.99"' | wrk_script "$OUT_DIR/flood_writes.lua"
  {
    echo 'wrk.headers["X-Forwarded-For"] = "203.0.113.66"'
    echo "wrk.body = '$(hard_definitions_json)'"
  } | wrk_script "$OUT_DIR/flood_verify.lua"
}

# others and probe at once for DURATION_S; their results named NAME_SUFFIX.
measure_clients() {
  local suffix=$1 before
  probe_script "$suffix"
  before=$(probe_nonce)
  run_wrk "others_$suffix" 4 "$OUT_DIR/others.lua" "$LEADER/api/lattice/transactions" &
  local others=$!
  run_wrk "probe_$suffix" 1 "$OUT_DIR/probe_$suffix.lua" "$LEADER/api/verify"
  wait "$others"
  report "others_$suffix"
  report "probe_$suffix"
  echo "probe_commits_$suffix count=$(($(probe_nonce) - before))" >>"$OUT_DIR/results.txt"
}

start_floods() {
  local seconds=$((DURATION_S + 10))
  run_wrk flood_verify 64 "$OUT_DIR/flood_verify.lua" "$LEADER/api/verify" "$seconds" &
  FLOOD_PIDS+=($!)
  run_wrk flood_writes 16 "$OUT_DIR/flood_writes.lua" "$LEADER/api/lattice/transactions" "$seconds" &
  FLOOD_PIDS+=($!)
  sleep 5 # the floods fill the verifier queue and the flooder's bucket before the measure
}

stop_all() {
  local pid
  for pid in "${FLOOD_PIDS[@]}" $SAMPLER_PID; do kill "$pid" 2>/dev/null || true; done
  aethel_down
}

print_table() {
  local base flood
  base=$(field others_unloaded rps)
  flood=$(field others_flood rps)
  cat <<TABLE

| measure | unloaded | under both floods | goal |
|---|---|---|---|
| other clients' commits/s (4 connections) | $base | $flood ($(ratio "$flood" "$base") of unloaded) | ≥ 0.8 of unloaded |
| other clients' non-2xx answers | $(field others_unloaded non2xx) | $(field others_flood non2xx) | 0 |
| probe client (signed transfers), p50 / p99 ms | $(field probe_unloaded p50_ms) / $(field probe_unloaded p99_ms) | $(field probe_flood p50_ms) / $(field probe_flood p99_ms) | p99 < 1000 |
| probe client, signed transfers committed (answers/s) | $(field probe_commits_unloaded count) ($(field probe_unloaded rps)/s) | $(field probe_commits_flood count) ($(field probe_flood rps)/s) | every answer a commit |
| probe client, non-2xx answers | $(field probe_unloaded non2xx) | $(field probe_flood non2xx) | 0 |
| leader RssAnon, max MB | $(max_of "$OUT_DIR/memory_unloaded.txt") | $(max_of "$OUT_DIR/memory_flood.txt") | bounded |
| hard-definition flood: answers/s, non-2xx | — | $(field flood_verify rps), $(field flood_verify non2xx) | refused, not queued |
| cheap-write flood: answers/s, non-2xx | — | $(field flood_writes rps), $(field flood_writes non2xx) | refused past $RATE_LIMIT/s |

Raw wrk output and logs: $OUT_DIR
TABLE
}

main() {
  [[ -x $AETHEL_BIN ]] || die "$AETHEL_BIN is missing: build first (cmake --build $BUILD_DIR --target aethel)"
  local tool
  for tool in wrk curl node; do command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"; done
  mkdir -p "$OUT_DIR"
  OUT_DIR=$(cd "$OUT_DIR" && pwd)
  : >"$OUT_DIR/results.txt"
  write_wrk_scripts
  write_genesis

  trap stop_all EXIT
  aethel_up AETHEL_TRUSTED_PROXIES=127.0.0.1 AETHEL_RATE_LIMIT_WRITES_PER_S="$RATE_LIMIT" \
    AETHEL_GENESIS_FILE="$OUT_DIR/genesis.json"
  log "aethel leader: $LEADER"
  local pid
  pid=$(leader_pid) || die "no pid for the leader in $OUT_DIR/run-lattice.out"

  sample_memory "$pid" "$OUT_DIR/memory_unloaded.txt" &
  SAMPLER_PID=$!
  measure_clients unloaded
  kill "$SAMPLER_PID"

  sample_memory "$pid" "$OUT_DIR/memory_flood.txt" &
  SAMPLER_PID=$!
  start_floods
  measure_clients flood
  wait "${FLOOD_PIDS[@]}"
  FLOOD_PIDS=()
  report flood_verify
  report flood_writes
  stop_all
  SAMPLER_PID=
  trap - EXIT
  print_table
}

main "$@"
