#!/usr/bin/env bash
# The WAN benchmark of issue 10 (SPEC §12): a 3-node Aethel lattice and a 3-member etcd
# cluster, measured the same way in the same run, with every link between nodes through
# aethel_delay_proxy at each one-way delay (harness.sh says how nothing goes around it).
# For each delay and each system:
#   start   fresh start → first leader (aethel: GET / says leader on some node; etcd: the
#           first put succeeds), RUNS times, from the launch of the three processes
#   p50     1 client, sequential writes to the leader: the guide's transfer through
#           POST /api/verify / an etcd put through the JSON gateway (LATENCY_REQUESTS)
#   tput    16 clients writing through all nodes, client c on node c mod 3 (THROUGHPUT_S)
#   gap     kill -9 of the leader under a write load (4 clients on the two other nodes,
#           request timeout 1 s + 6 × delay; the kill once a write was acknowledged): the
#           last write acknowledged before the kill → the first acknowledged write sent
#           after it, RUNS times; the killed node is restarted and caught up between runs
#   reads   READ_CLIENTS clients reading one key through all nodes (READ_S seconds):
#           linearizable (aethel's default, etcd's range) and stale (aethel
#           ?consistency=stale, etcd serializable)
# It prints a markdown table (aethel, etcd, ratio) and keeps raw results and logs;
# `wan_bench.sh --table DIR/results.txt` prints the table of an earlier run again.
#
# As root (network namespaces), after a build:
#   bench/wan/wan_bench.sh
# Settings (environment):
#   DELAYS="0 50 120"   one-way delays in ms        SYSTEMS="aethel etcd"
#   MEASURES="starts writes failovers reads"        which measures to take
#   RUNS=5              fresh starts and leader kills per delay and system
#   LATENCY_REQUESTS=60 THROUGHPUT_S=10 CLIENTS=16 FAILOVER_CLIENTS=4
#   READ_CLIENTS=32 READ_S=10
#   BUILD_DIR=build     where aethel, aethel_delay_proxy and wan_load are
#   OUT_DIR             results and logs (default: a new directory under /tmp)
#   AETHEL_EXTRA_ENV    extra lines for every node's env file (e.g. tuning variables)
set -euo pipefail
cd "$(dirname "$0")/../.."
DELAYS=${DELAYS:-0 50 120}
SYSTEMS=${SYSTEMS:-aethel etcd}
RUNS=${RUNS:-5}
LATENCY_REQUESTS=${LATENCY_REQUESTS:-60}
THROUGHPUT_S=${THROUGHPUT_S:-10}
CLIENTS=${CLIENTS:-16}
FAILOVER_CLIENTS=${FAILOVER_CLIENTS:-4}
READ_CLIENTS=${READ_CLIENTS:-32}
READ_S=${READ_S:-10}
MEASURES=${MEASURES:-starts writes failovers reads}
BUILD_DIR=${BUILD_DIR:-build}
AETHEL_BIN=$BUILD_DIR/src/cli/aethel
PROXY_BIN=$BUILD_DIR/tools/delay_proxy/aethel_delay_proxy
WAN_LOAD=$BUILD_DIR/bench/wan/wan_load
OUT_DIR=${OUT_DIR:-/tmp/aethel-wan-bench.$$}
WAN_WORK=$OUT_DIR/work
WAN_TAG=awb$$n
# shellcheck source=bench/wan/harness.sh
source bench/wan/harness.sh

RESULTS=$OUT_DIR/results.txt

setup() {
  for binary in "$AETHEL_BIN" "$PROXY_BIN" "$WAN_LOAD"; do
    [[ -x $binary ]] || wan_die "$binary is missing: build first (cmake --build $BUILD_DIR)"
  done
  for tool in etcd ip curl; do
    command -v "$tool" >/dev/null || wan_die "$tool is missing: run scripts/install-deps.sh"
  done
  [[ $(id -u) == 0 ]] || wan_die "run as root: the harness creates network namespaces"
  for d in $DELAYS; do [[ $d =~ ^[0-9]+$ ]] || wan_die "DELAYS must be integers (ms), got '$d'"; done
  for s in $SYSTEMS; do [[ $s == aethel || $s == etcd ]] || wan_die "SYSTEMS: aethel or etcd, got '$s'"; done
  [[ $RUNS =~ ^[1-9][0-9]*$ ]] || wan_die "RUNS must be a positive integer, got '$RUNS'"
  mkdir -p "$WAN_WORK"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

cleanup() {
  trap - EXIT INT TERM
  wan_stop_all
  wan_proxy_stop
  wan_netns_delete
}

record() { echo "$*" >>"$RESULTS"; }
# The value of KEY in a line of KEY=VALUE words.
word() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n1; }

measure_starts() {
  local system=$1 delay=$2 run started out
  for ((run = 1; run <= RUNS; run++)); do
    wan_stop_all
    wan_wipe "$system"
    started=$(date +%s%N)
    for n in "${WAN_NODES[@]}"; do wan_start "$system" "$n"; done
    out=$("$WAN_LOAD" wait-leader --kind "$system" --targets "$(wan_targets_except "$system")" \
      --since-ns "$started" --timeout-s 60 || true)
    wan_log "$system delay=$delay start run $run: $out"
    record "$system $delay start $(word elapsed_ms "$out")"
  done
}

measure_writes() {
  local system=$1 delay=$2 leader out
  leader=$("$WAN_LOAD" leader --kind "$system" --targets "$(wan_targets_except "$system")" --timeout-s 60)
  out=$("$WAN_LOAD" latency --kind "$system" --target "$(wan_target "$system" "$leader")" \
    --requests "$LATENCY_REQUESTS" --timeout-ms 10000 || true)
  wan_log "$system delay=$delay 1 client to the leader (node $leader): $out"
  record "$system $delay p50 $(word p50_ms "$out")"
  out=$("$WAN_LOAD" throughput --kind "$system" --targets "$(wan_targets_except "$system")" \
    --clients "$CLIENTS" --seconds "$THROUGHPUT_S" --timeout-ms 10000 || true)
  wan_log "$system delay=$delay $CLIENTS clients over 3 nodes: $out"
  record "$system $delay tput $(word per_s "$out")"
}

measure_failovers() {
  local system=$1 delay=$2 run leader out
  for ((run = 1; run <= RUNS; run++)); do
    leader=$("$WAN_LOAD" leader --kind "$system" --targets "$(wan_targets_except "$system")" --timeout-s 60)
    out=$("$WAN_LOAD" failover --kind "$system" --targets "$(wan_targets_except "$system" "$leader")" \
      --kill-pid "${WAN_PIDS[$leader]}" --clients "$FAILOVER_CLIENTS" --before-ms 2000 \
      --max-gap-s 30 --timeout-ms "$((1000 + 6 * delay))" || true)
    wan_reap "$leader"
    wan_log "$system delay=$delay kill -9 of the leader (node $leader), run $run: $out"
    record "$system $delay gap $(word gap_ms "$out")"
    wan_start "$system" "$leader"
    wan_wait_up "$system" "$leader"
    "$WAN_LOAD" wait-converged --kind "$system" --targets "$(wan_targets_except "$system")" \
      --timeout-s 120 >/dev/null || wan_log "$system: node $leader did not catch up within 120 s"
  done
}

measure_reads() {
  local system=$1 delay=$2 mode out
  "$WAN_LOAD" leader --kind "$system" --targets "$(wan_targets_except "$system")" --timeout-s 60 >/dev/null
  for mode in linearizable stale; do
    out=$("$WAN_LOAD" throughput --kind "$system" --targets "$(wan_targets_except "$system")" \
      --clients "$READ_CLIENTS" --seconds "$READ_S" --timeout-ms 10000 --reads "$mode" || true)
    wan_log "$system delay=$delay $READ_CLIENTS clients, $mode reads over 3 nodes: $out"
    record "$system $delay reads-$mode $(word per_s "$out")"
  done
}

# Fresh starts leave a running lattice; the other measures need one.
measure() {
  local system=$1 delay=$2
  wan_prepare "$system"
  wan_proxy_start "$system" "$delay"
  measure_starts "$system" "$delay"
  [[ $MEASURES == *writes* ]] && measure_writes "$system" "$delay"
  [[ $MEASURES == *failovers* ]] && measure_failovers "$system" "$delay"
  [[ $MEASURES == *reads* ]] && measure_reads "$system" "$delay"
  wan_stop_all
  cp "$WAN_WORK/proxy.stats" "$OUT_DIR/proxy-$system-$delay.stats" 2>/dev/null || true
  wan_proxy_stop
}

# --- the table ------------------------------------------------------------------------

# All values of one measure, in run order, and their median; a run without a value
# ("none": no leader or no write within the time limit) counts as longer than any.
values() { awk -v s="$1" -v d="$2" -v m="$3" '$1 == s && $2 == d && $3 == m { print $4 }' "$RESULTS"; }
median() {
  values "$@" | sed 's/^$/none/; s/^none$/inf/' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
fmt_ms() {
  if [[ -z $1 ]]; then echo "—"; elif [[ $1 == inf ]]; then echo "none within the limit"; else
    awk -v v="$1" 'BEGIN { printf(v >= 1000 ? "%.1f s" : "%.1f ms", v >= 1000 ? v / 1000 : v) }'
  fi
}
fmt_rate() { [[ -n $1 && $1 != inf ]] && awk -v v="$1" 'BEGIN { printf("%.0f/s", v) }' || echo "—"; }
ratio() {
  [[ -n $1 && -n $2 && $1 != inf && $2 != inf ]] &&
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf("%.2f", a / b); else print "—" }' || echo "—"
}
all_s() { values "$@" | awk '{ printf("%s%s", NR > 1 ? ", " : "", $1 == "none" || $1 == "" ? "none" : sprintf("%.1f", $1 / 1000)) }'; }

row() {
  local delay=$1 label=$2 measure=$3 format=$4 a e
  a=$(median aethel "$delay" "$measure")
  e=$(median etcd "$delay" "$measure")
  printf '| %s ms | %s | %s | %s | %s |\n' "$delay" "$label" "$($format "$a")" "$($format "$e")" "$(ratio "$a" "$e")"
}

print_table() {
  echo "| one-way delay | measure | aethel | etcd | aethel / etcd |"
  echo "|---|---|---|---|---|"
  local d
  for d in $DELAYS; do
    row "$d" "1 client, writes to the leader, p50" p50 fmt_ms
    row "$d" "$CLIENTS clients over 3 nodes" tput fmt_rate
    row "$d" "kill -9 of the leader: write gap, median of the runs" gap fmt_ms
    row "$d" "fresh start → first leader, median of the runs" start fmt_ms
    row "$d" "$READ_CLIENTS clients, linearizable reads over 3 nodes" reads-linearizable fmt_rate
    row "$d" "$READ_CLIENTS clients, stale (etcd: serializable) reads over 3 nodes" reads-stale fmt_rate
  done
  echo
  echo "Every run (s): kill gap / first leader"
  for d in $DELAYS; do
    for s in $SYSTEMS; do
      echo "- $d ms $s: gap $(all_s "$s" "$d" gap); first leader $(all_s "$s" "$d" start)"
    done
  done
}

main() {
  if [[ ${1:-} == --table ]]; then  # the table of an earlier run's results.txt
    RESULTS=${2:?--table needs a results.txt}
    print_table
    return
  fi
  setup
  : >"$RESULTS"
  wan_netns_create
  record "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) load: $(uptime | sed 's/.*load average: //')"
  wan_log "results and logs in $OUT_DIR"
  local d s
  for d in $DELAYS; do
    for s in $SYSTEMS; do measure "$s" "$d"; done
  done
  record "# end load: $(uptime | sed 's/.*load average: //')"
  print_table | tee "$OUT_DIR/table.md"
  grep '^#' "$RESULTS"
}

main "$@"
