#!/usr/bin/env bash
# Write load on a 3-node loopback lattice whose nodes talk over one lung only: starts
# the three nodes (fresh keys and data), finds the leader, runs node_load
# --mode verify with CONNECTIONS keep-alive connections for LOAD_SECONDS against it,
# prints the heights of all nodes and stops them.
#   LUNG=http CONNECTIONS=64 LOAD_SECONDS=8 bench/node/http_lung_load.sh
# LUNG=http: AETHEL_P2P_ENABLED=false, consensus over POST /api/lattice/internal/messages;
# LUNG=p2p: P2P with the other two as bootstrap peers. BASE_PORT (default 18600) is
# the first of the ports used: API BASE+1..3, P2P BASE+101..103.
set -euo pipefail
AETHEL_BIN=${AETHEL_BIN:-build/src/cli/aethel}
LOAD=${NODE_LOAD:-build/bench/node/node_load}
LUNG=${LUNG:-http}
CONNECTIONS=${CONNECTIONS:-64}
LOAD_SECONDS=${LOAD_SECONDS:-8}
BASE=${BASE_PORT:-18600}
DIR=$(mktemp -d /tmp/aethel-lung.XXXXXX)
declare -a IDS PIDS

cleanup() {
  for pid in "${PIDS[@]:-}"; do [[ -n $pid ]] && kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

for n in 1 2 3; do
  mkdir -p "$DIR/n$n"
  IDS[$n]=$("$AETHEL_BIN" keygen --out "$DIR/n$n/node.key" 2>/dev/null)
done
for n in 1 2 3; do
  nodes="" boot=""
  for m in 1 2 3; do
    [[ $m == "$n" ]] && continue
    nodes+="${nodes:+,}http://127.0.0.1:$((BASE + m))"
    boot+="${boot:+,}/ip4/127.0.0.1/tcp/$((BASE + 100 + m))/p2p/${IDS[$m]}"
  done
  lung=(AETHEL_P2P_ENABLED=false AETHEL_P2P_LISTEN=)
  if [[ $LUNG == p2p ]]; then
    lung=(AETHEL_P2P_ENABLED=true "AETHEL_P2P_LISTEN=/ip4/127.0.0.1/tcp/$((BASE + 100 + n))"
          "AETHEL_P2P_BOOTSTRAP=$boot")
  fi
  env -i PATH=/usr/bin:/bin AETHEL_NODE_NAME="n$n" AETHEL_API_HOST=127.0.0.1 \
    AETHEL_API_PORT=$((BASE + n)) AETHEL_DATA_DIR="$DIR/n$n/data" \
    AETHEL_NODE_KEY="$DIR/n$n/node.key" AETHEL_LOG_DIR="$DIR/logs" "${lung[@]}" \
    AETHEL_VALIDATORS="${IDS[1]},${IDS[2]},${IDS[3]}" AETHEL_LATTICE_NODES="$nodes" \
    AETHEL_HEARTBEAT_INTERVAL=1 AETHEL_PEERLESS_TIMEOUT=2 \
    "$AETHEL_BIN" node >"$DIR/n$n.out" 2>&1 &
  PIDS[$n]=$!
done

leader=""
for _ in $(seq 1 150); do
  for n in 1 2 3; do
    if curl -s -m 1 "http://127.0.0.1:$((BASE + n))/" | grep -q '"role":"leader"'; then leader=$n; fi
  done
  [[ -n $leader ]] && break
  sleep 0.2  # poll interval while the lattice elects
done
[[ -n $leader ]] || { echo "no leader within 30 s" >&2; exit 1; }
echo "lung=$LUNG leader=node$leader"
"$LOAD" --node "http://127.0.0.1:$((BASE + leader))" --mode verify \
  --connections "$CONNECTIONS" --seconds "$LOAD_SECONDS" || true
for n in 1 2 3; do
  echo "node$n $(curl -s -m 2 "http://127.0.0.1:$((BASE + n))/api/lattice/state?limit=0" |
    grep -o '"height":[0-9]*')"
done
