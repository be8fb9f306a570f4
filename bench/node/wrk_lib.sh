# shellcheck shell=bash
# Shared by the load scripts of bench/node (sourced, not run): wrk scripts that print one
# RESULT line, measures kept in $OUT_DIR/results.txt, and a scripts/run-lattice.sh lattice.
# The sourcing script sets BENCH (its name in log lines), OUT_DIR, DURATION_S, WRK_THREADS,
# AETHEL_BIN, BASE_API_PORT and BASE_P2P_PORT.

log() { echo "$BENCH: $*" >&2; }
die() {
  echo "$BENCH: $*" >&2
  exit 1
}

# wrk's summary as one line: requests/s, wrk's own p50 and p99, non-2xx answers and
# socket errors.
WRK_REPORT='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end'

# wrk_script FILE [BODY]: a POST of JSON BODY, or of what the Lua on stdin builds.
wrk_script() {
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    if [[ -n ${2:-} ]]; then echo "wrk.body = '$2'"; else cat; fi
    echo "$WRK_REPORT"
  } >"$1"
}

# batch_script FILE: POST /api/lattice/transactions with 256 transfers of 1 (Alice and
# Bob in turn, so nobody runs dry), no client ids.
batch_script() {
  local items=() i
  for ((i = 0; i < 128; i++)); do
    items+=('{"from": "Alice", "to": "Bob", "amount": 1}' '{"from": "Bob", "to": "Alice", "amount": 1}')
  done
  local IFS=,
  wrk_script "$1" "{\"transactions\": [${items[*]}]}"
}

# prepare_batch_bench: checks the binary and wrk, makes OUT_DIR (absolute) with an empty
# results.txt and the batch script in $OUT_DIR/batch.lua.
prepare_batch_bench() {
  [[ -x $AETHEL_BIN ]] || die "$AETHEL_BIN is missing: build first (cmake --build $BUILD_DIR --target aethel)"
  command -v wrk >/dev/null || die "wrk is missing (scripts/install-deps.sh installs it)"
  mkdir -p "$OUT_DIR"
  OUT_DIR=$(cd "$OUT_DIR" && pwd)
  : >"$OUT_DIR/results.txt"
  batch_script "$OUT_DIR/batch.lua"
}

# run_wrk NAME CONNECTIONS SCRIPT URL [SECONDS]: wrk's output in $OUT_DIR/NAME.wrk.
run_wrk() {
  local name=$1 connections=$2 script=$3 url=$4 seconds=${5:-$DURATION_S} threads=$WRK_THREADS
  ((connections < threads)) && threads=$connections
  log "$name: $connections connection(s), ${seconds}s → $url"
  wrk -t"$threads" -c"$connections" -d"${seconds}s" --timeout 10s -s "$script" "$url" \
    >"$OUT_DIR/$name.wrk" 2>&1 || die "wrk failed for $name: $(cat "$OUT_DIR/$name.wrk")"
}

# report NAME: NAME's RESULT line, added to results.txt.
report() {
  local name=$1 result
  result=$(grep '^RESULT ' "$OUT_DIR/$name.wrk") || die "no result for $name: $(cat "$OUT_DIR/$name.wrk")"
  echo "$name ${result#RESULT }" | tee -a "$OUT_DIR/results.txt" >&2
}

measure() {
  run_wrk "$@"
  report "$1"
}

field() { grep "^$1 " "$OUT_DIR/results.txt" | grep -o "$2=[0-9.]*" | cut -d= -f2; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# --- a lattice of scripts/run-lattice.sh ------------------------------------------------

aethel_url() { echo "http://127.0.0.1:$((BASE_API_PORT + $1 - 1))"; }

aethel_leader() {
  local n
  for n in 1 2 3; do
    if curl -fsS -m 2 "$(aethel_url "$n")/" 2>/dev/null | grep -q '"role": *"leader"'; then
      aethel_url "$n"
      return 0
    fi
  done
  return 1
}

# aethel_up [VAR=value ...]: starts the lattice with those settings added to every
# node's environment; sets LATTICE_PID and LEADER (the leader's URL).
aethel_up() {
  env "$@" LATTICE_DIR="$OUT_DIR/aethel" SKIP_BUILD=1 AETHEL_BIN="$AETHEL_BIN" \
    BASE_API_PORT="$BASE_API_PORT" BASE_P2P_PORT="$BASE_P2P_PORT" \
    scripts/run-lattice.sh >"$OUT_DIR/run-lattice.out" 2>&1 &
  LATTICE_PID=$!
  local i
  for ((i = 0; i < 240; i++)); do
    # shellcheck disable=SC2034 # read by the sourcing script
    LEADER=$(aethel_leader) && return 0
    kill -0 "$LATTICE_PID" 2>/dev/null || die "the lattice exited: $(tail -5 "$OUT_DIR/run-lattice.out")"
    sleep 0.25
  done
  die "no aethel leader within 60 s; see $OUT_DIR/aethel/logs"
}

aethel_down() {
  [[ -n ${LATTICE_PID:-} ]] || return 0
  kill -TERM "$LATTICE_PID" 2>/dev/null || true
  wait "$LATTICE_PID" 2>/dev/null || true
  LATTICE_PID=
}

leader_pid() {
  local port=${LEADER##*:}
  grep -o "node-$((port - BASE_API_PORT + 1)) up at .*pid [0-9]*" "$OUT_DIR/run-lattice.out" |
    grep -o '[0-9]*$'
}

# sample_memory PID FILE: the process's RssAnon in MB, once a second, until it exits.
sample_memory() {
  while kill -0 "$1" 2>/dev/null; do
    awk '/^RssAnon:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status" >>"$2" 2>/dev/null || true
    sleep 1
  done
}
max_of() { sort -n "$1" | tail -1; }
