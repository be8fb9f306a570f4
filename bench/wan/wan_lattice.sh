#!/usr/bin/env bash
# Runs a local 3-node Aethel lattice (or a 3-member etcd cluster) with a one-way delay
# on every link between the nodes, in the foreground, for experiments by hand; the
# topology is described in bench/wan/harness.sh. Ctrl-C stops everything and removes
# the namespaces. As root, after a build:
#
#   bench/wan/wan_lattice.sh [--delay-ms 50] [--system aethel|etcd] [--keep-data]
#
# It prints how to reach every node: through the proxy's "client-n" links (no delay)
# from this namespace, or inside node n's namespace with `ip netns exec`.
#   BUILD_DIR   where the binaries are (default build)
#   WAN_DIR     keys, data, logs, env files (default a new directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
AETHEL_BIN=$BUILD_DIR/src/cli/aethel
PROXY_BIN=$BUILD_DIR/tools/delay_proxy/aethel_delay_proxy
WAN_WORK=${WAN_DIR:-$(mktemp -d /tmp/aethel-wan.XXXXXX)}
WAN_TAG=awl$$n
# shellcheck source=bench/wan/harness.sh
source bench/wan/harness.sh

usage() {
  echo "usage: bench/wan/wan_lattice.sh [--delay-ms MS] [--system aethel|etcd] [--keep-data]" >&2
  exit 2
}

delay_ms=50 system=aethel keep=0
while (($#)); do
  case $1 in
    --delay-ms)
      [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "wan: --delay-ms needs a whole number of ms" >&2; usage; }
      delay_ms=$2
      shift 2
      ;;
    --system)
      [[ ${2:-} == aethel || ${2:-} == etcd ]] || { echo "wan: --system is aethel or etcd" >&2; usage; }
      system=$2
      shift 2
      ;;
    --keep-data) keep=1 && shift ;;
    *) echo "wan: unknown argument '$1'" >&2 && usage ;;
  esac
done
[[ $(id -u) == 0 ]] || wan_die "run as root: the harness creates network namespaces"
[[ -x $AETHEL_BIN && -x $PROXY_BIN ]] || wan_die "build first: $AETHEL_BIN and $PROXY_BIN are needed"

cleanup() {
  trap - EXIT INT TERM
  wan_stop_all
  wan_proxy_stop
  wan_netns_delete
  wan_log "stopped; files in $WAN_WORK"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

wan_netns_create
wan_prepare "$system"
((keep)) || wan_wipe "$system"
wan_proxy_start "$system" "$delay_ms"
for n in "${WAN_NODES[@]}"; do wan_start "$system" "$n"; done
for n in "${WAN_NODES[@]}"; do wan_wait_up "$system" "$n"; done

echo "$system at one-way ${delay_ms} ms on every link between the nodes (files: $WAN_WORK)"
for n in "${WAN_NODES[@]}"; do
  echo "  node $n: http://127.0.0.1:${WAN_CLIENT_PORTS[$n]}  (pid ${WAN_PIDS[$n]}, namespace $(wan_ns "$n"): $(wan_target "$system" "$n"))"
done
if [[ $system == aethel ]]; then
  echo "  curl http://127.0.0.1:${WAN_CLIENT_PORTS[1]}/api/lattice/p2p/status   # rtt_ms of each peer"
else
  echo "  curl -X POST http://127.0.0.1:${WAN_CLIENT_PORTS[1]}/v3/kv/put -d '{\"key\":\"Zm9v\",\"value\":\"YmFy\"}'"
fi
echo "  per-link bytes: $WAN_WORK/proxy.stats    Ctrl-C stops everything."
# Nodes may be killed and restarted by hand meanwhile; the proxy runs until Ctrl-C.
wait "$WAN_PROXY_PID" || true
