# shellcheck shell=bash
# shellcheck disable=SC2034 # WAN_CLIENT_PORTS and the like are read by the scripts that source it
# The WAN harness for scripts (issue 10, item 6), sourced by wan_lattice.sh and
# wan_bench.sh: three network namespaces, an aethel_delay_proxy that is the only path
# between them, and a 3-node Aethel lattice or a 3-member etcd cluster inside them.
#
# Topology (the same as tests/wan/wan_fixture.h). Node n runs in namespace ${WAN_TAG}n,
# which has nothing but a loopback interface. Every node knows node m by one address,
# as the guide's hosts know each other by one public address each:
#   aethel  HTTP http://127.0.0.1:800m   P2P /ip4/127.0.0.1/tcp/900m
#   etcd    peer http://127.0.0.1:2380m  client http://127.0.0.1:2379 (in its namespace)
# Inside node n's namespace the proxy listens on node m's addresses and connects to
# them inside m's namespace, with the one-way delay: each directed pair has its own
# links ("http-n-m", "p2p-n-m", "peer-n-m" in the proxy's stats), and whatever a node
# learns about another (a hello's url, identify's addresses) leads through the proxy,
# since no other path exists. Clients use WAN_TARGETS (`NETNS@URL`: wan_load opens its
# connections inside the node's namespace, no proxy in between); the links
# "client-n" (no delay) also reach node n from the root namespace, for curl.
#
# Needs root: `ip netns`. Set before sourcing or calling: WAN_WORK (a directory),
# WAN_TAG (namespace prefix), AETHEL_BIN, PROXY_BIN, WAN_LOAD.

WAN_NODES=(1 2 3)
WAN_HEALTH_TIMEOUT_S=${WAN_HEALTH_TIMEOUT_S:-60}

wan_log() { echo "wan: $*" >&2; }
wan_die() {
  echo "wan: $*" >&2
  exit 1
}

wan_ns() { echo "${WAN_TAG}$1"; }
wan_ns_path() { echo "/run/netns/${WAN_TAG}$1"; }

wan_netns_create() {
  local n
  for n in "${WAN_NODES[@]}"; do
    ip netns add "$(wan_ns "$n")" || wan_die "cannot create network namespace $(wan_ns "$n") (root needed)"
    ip -n "$(wan_ns "$n")" link set lo up
  done
}

wan_netns_delete() {
  local n
  for n in "${WAN_NODES[@]}"; do ip netns del "$(wan_ns "$n")" 2>/dev/null || true; done
}

# --- the proxy ---------------------------------------------------------------------

# wan_proxy_start aethel|etcd DELAY_MS: every link between the namespaces, and the
# client links. Sets WAN_PROXY_PID and WAN_CLIENT_PORTS[n].
wan_proxy_start() {
  local system=$1 delay_ms=$2 links=() n m
  local ports=(8000 9000) kinds=(http p2p) client_base=8000
  if [[ $system == etcd ]]; then ports=(23800) kinds=(peer) client_base=2379; fi
  for n in "${WAN_NODES[@]}"; do
    for m in "${WAN_NODES[@]}"; do
      [[ $n == "$m" ]] && continue
      for k in "${!ports[@]}"; do
        local port=$((ports[k] + m))
        links+=(--link "$port:127.0.0.1:$port,name=${kinds[k]}-$n-$m,listen-netns=$(wan_ns_path "$n"),target-netns=$(wan_ns_path "$m")")
      done
    done
    local client_port=$client_base
    [[ $system == aethel ]] && client_port=$((client_base + n))
    links+=(--link "0:127.0.0.1:$client_port,name=client-$n,target-netns=$(wan_ns_path "$n"),delay-ms=0")
  done
  : >"$WAN_WORK/proxy.out"
  "$PROXY_BIN" --delay-ms "$delay_ms" --stats-file "$WAN_WORK/proxy.stats" "${links[@]}" \
    >"$WAN_WORK/proxy.out" 2>"$WAN_WORK/proxy.err" &
  WAN_PROXY_PID=$!
  local i
  for ((i = 0; i < 200; i++)); do
    grep -q '^ready$' "$WAN_WORK/proxy.out" && break
    kill -0 "$WAN_PROXY_PID" 2>/dev/null || wan_die "the proxy exited: $(cat "$WAN_WORK/proxy.err")"
    sleep 0.05
  done
  grep -q '^ready$' "$WAN_WORK/proxy.out" || wan_die "the proxy did not get ready"
  declare -gA WAN_CLIENT_PORTS=()
  for n in "${WAN_NODES[@]}"; do
    WAN_CLIENT_PORTS[$n]=$(awk -v name="client-$n" '$1 == "link" && $2 == name { split($3, a, ":"); print a[2] }' "$WAN_WORK/proxy.out")
  done
}

wan_proxy_stop() {
  [[ -n ${WAN_PROXY_PID:-} ]] || return 0
  kill -TERM "$WAN_PROXY_PID" 2>/dev/null || true
  wait "$WAN_PROXY_PID" 2>/dev/null || true
  WAN_PROXY_PID=
}

# --- node processes ------------------------------------------------------------------

declare -gA WAN_PIDS=()

wan_kill() {
  local n=$1
  [[ -n ${WAN_PIDS[$n]:-} ]] || return 0
  kill -KILL "${WAN_PIDS[$n]}" 2>/dev/null || true
  wait "${WAN_PIDS[$n]}" 2>/dev/null || true
  unset "WAN_PIDS[$n]"
}

# A node killed by someone else (wan_load failover): reap it.
wan_reap() {
  local n=$1
  wait "${WAN_PIDS[$n]}" 2>/dev/null || true
  unset "WAN_PIDS[$n]"
}

wan_stop_all() {
  local n
  for n in "${!WAN_PIDS[@]}"; do kill -TERM "${WAN_PIDS[$n]}" 2>/dev/null || true; done
  for n in "${!WAN_PIDS[@]}"; do wait "${WAN_PIDS[$n]}" 2>/dev/null || true; done
  WAN_PIDS=()
}

# WAN_TARGETS for wan_load: NETNS@URL of every node, comma-separated; wan_targets_except N.
wan_target() {
  local system=$1 n=$2
  if [[ $system == aethel ]]; then
    echo "$(wan_ns_path "$n")@http://127.0.0.1:$((8000 + n))"
  else
    echo "$(wan_ns_path "$n")@http://127.0.0.1:2379"
  fi
}
wan_targets_except() {
  local system=$1 skip=${2:-0} out=() n
  for n in "${WAN_NODES[@]}"; do
    [[ $n == "$skip" ]] || out+=("$(wan_target "$system" "$n")")
  done
  local IFS=,
  echo "${out[*]}"
}

# --- aethel ------------------------------------------------------------------------------

# Keys once per harness run (a fresh start keeps the peer IDs, loses the data).
aethel_keys() {
  local n dir="$WAN_WORK/aethel/keys"
  mkdir -p "$dir"
  declare -gA AETHEL_PEER_IDS=()
  for n in "${WAN_NODES[@]}"; do
    [[ -f $dir/node$n.key ]] || "$AETHEL_BIN" keygen --out "$dir/node$n.key" >"$dir/node$n.id" 2>/dev/null
    AETHEL_PEER_IDS[$n]=$(cat "$dir/node$n.id")
  done
}

aethel_write_env() {
  local n=$1 m bootstrap=() nodes=()
  for m in "${WAN_NODES[@]}"; do
    [[ $m == "$n" ]] && continue
    bootstrap+=("/ip4/127.0.0.1/tcp/$((9000 + m))/p2p/${AETHEL_PEER_IDS[$m]}")
    nodes+=("http://127.0.0.1:$((8000 + m))")
  done
  local IFS=,
  cat >"$WAN_WORK/aethel/node$n.env" <<EOF
# Generated by bench/wan/harness.sh: node $n of a WAN lattice (namespace $(wan_ns "$n")).
AETHEL_NODE_NAME=node-$n
AETHEL_API_HOST=127.0.0.1
AETHEL_API_PORT=$((8000 + n))
AETHEL_PUBLIC_URL=http://127.0.0.1:$((8000 + n))
AETHEL_DATA_DIR=$WAN_WORK/aethel/node$n
AETHEL_NODE_KEY=$WAN_WORK/aethel/keys/node$n.key
AETHEL_LOG_DIR=$WAN_WORK/aethel/logs
AETHEL_P2P_LISTEN=/ip4/127.0.0.1/tcp/$((9000 + n))
AETHEL_P2P_BOOTSTRAP=${bootstrap[*]}
AETHEL_VALIDATORS=${AETHEL_PEER_IDS[1]},${AETHEL_PEER_IDS[2]},${AETHEL_PEER_IDS[3]}
AETHEL_LATTICE_NODES=${nodes[*]}
${AETHEL_EXTRA_ENV:-}
EOF
}

aethel_start() {
  local n=$1
  mkdir -p "$WAN_WORK/aethel/logs"
  ip netns exec "$(wan_ns "$n")" "$AETHEL_BIN" node --env "$WAN_WORK/aethel/node$n.env" \
    >>"$WAN_WORK/aethel/logs/node-$n.out" 2>&1 &
  WAN_PIDS[$n]=$!
}

aethel_wipe() {
  local n
  for n in "${WAN_NODES[@]}"; do rm -rf "$WAN_WORK/aethel/node$n"; done
}

# --- etcd ---------------------------------------------------------------------------------

etcd_start() {
  local n=$1 cluster=() m
  for m in "${WAN_NODES[@]}"; do cluster+=("m$m=http://127.0.0.1:$((23800 + m))"); done
  local IFS=,
  mkdir -p "$WAN_WORK/etcd/logs"
  ip netns exec "$(wan_ns "$n")" etcd --name "m$n" --data-dir "$WAN_WORK/etcd/m$n" \
    --listen-peer-urls "http://127.0.0.1:$((23800 + n))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((23800 + n))" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --initial-cluster "${cluster[*]}" --initial-cluster-state new \
    --initial-cluster-token aethel-wan --heartbeat-interval 100 --election-timeout 1000 \
    --logger zap --log-outputs stderr >>"$WAN_WORK/etcd/logs/m$n.out" 2>&1 &
  WAN_PIDS[$n]=$!
}

etcd_wipe() {
  local n
  for n in "${WAN_NODES[@]}"; do rm -rf "$WAN_WORK/etcd/m$n"; done
}

# --- both -----------------------------------------------------------------------------------

wan_start() {
  local system=$1 n=$2
  if [[ $system == aethel ]]; then aethel_start "$n"; else etcd_start "$n"; fi
}
wan_wipe() {
  if [[ $1 == aethel ]]; then aethel_wipe; else etcd_wipe; fi
}
wan_prepare() {
  local n
  mkdir -p "$WAN_WORK/$1"
  if [[ $1 == aethel ]]; then
    aethel_keys
    for n in "${WAN_NODES[@]}"; do aethel_write_env "$n"; done
  fi
}

# Until node n answers HTTP (aethel: /health 200; etcd: any answer, since its /health
# says 503 until there is a leader), or it died.
wan_wait_up() {
  local system=$1 n=$2 i url=http://127.0.0.1:2379/health fail=()
  [[ $system == aethel ]] && url="http://127.0.0.1:$((8000 + n))/health" fail=(-f)
  for ((i = 0; i < WAN_HEALTH_TIMEOUT_S * 10; i++)); do
    ip netns exec "$(wan_ns "$n")" curl "${fail[@]}" -sS -o /dev/null -m 1 "$url" 2>/dev/null && return 0
    kill -0 "${WAN_PIDS[$n]}" 2>/dev/null || wan_die "$system node $n exited during start-up; see $WAN_WORK/$system/logs"
    sleep 0.1
  done
  wan_die "$system node $n did not answer within ${WAN_HEALTH_TIMEOUT_S}s"
}
