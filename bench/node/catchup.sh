#!/usr/bin/env bash
# Catch-up benchmark against a lattice started by scripts/run-lattice.sh: kills node 3,
# commits transfers on the other two for LOAD_SECONDS, restarts node 3 and prints the
# time from its restart until it reports the leader's height.
#   LATTICE_DIR=./lattice-run AETHEL_BIN=build/src/cli/aethel LOAD_SECONDS=3 bench/node/catchup.sh
set -euo pipefail
LATTICE_DIR=${LATTICE_DIR:-./lattice-run}
AETHEL_BIN=${AETHEL_BIN:-build/src/cli/aethel}
LOAD=${NODE_LOAD:-build/bench/node/node_load}
LOAD_SECONDS=${LOAD_SECONDS:-3}

height() { curl -s "http://127.0.0.1:$1/api/lattice/state?limit=0" | jq -r .height; }
leader=""
for port in 8001 8002; do
  [[ $(curl -s "http://127.0.0.1:$port/" | jq -r .role) == leader ]] && leader=$port
done
[[ -n $leader ]] || { echo "catchup: node 1 or 2 must lead (restart the lattice)"; exit 1; }
kill -9 "$(pgrep -f "$LATTICE_DIR/node3.env" | head -1)"
"$LOAD" --node "http://127.0.0.1:$leader" --seconds "$LOAD_SECONDS" | sed -n 2p
target=$(height "$leader")
echo "leader height $target"
start=$(date +%s.%N)
setsid "$AETHEL_BIN" node --env "$LATTICE_DIR/node3.env" >>"$LATTICE_DIR/node3-restart.out" 2>&1 &
deadline=$(($(date +%s) + 60))
until [[ $(height 8003 2>/dev/null || true) == "$target" ]]; do
  (($(date +%s) < deadline)) || { echo "catchup: node 3 did not catch up in 60 s"; exit 1; }
  sleep 0.02 # poll interval
done
echo "node 3 at height $target $(echo "$(date +%s.%N) - $start" | bc) s after its restart"
