#!/bin/sh
# One-shot key service of deploy/compose.yaml: a key per node (kept across restarts:
# keygen refuses to overwrite a key, and a new key would be a new peer ID), then one
# env file per node naming the three peer IDs. Runs as the image's `aethel` user in
# the `keys` volume, which the nodes mount read-only at /keys.
set -eu
cd "${KEYS_DIR:-/data}"  # KEYS_DIR: to try the script outside a container
for n in 1 2 3; do
  if [ ! -s "node$n.peer_id" ]; then
    aethel keygen --out "node$n.key" | grep -o '12D3KooW[1-9A-HJ-NP-Za-km-z]*' > "node$n.peer_id"
  fi
done
p1=$(cat node1.peer_id) p2=$(cat node2.peer_id) p3=$(cat node3.peer_id)
peer() { eval "echo \$p$1"; }
for n in 1 2 3; do
  bootstrap='' nodes=''
  for m in 1 2 3; do
    [ "$m" = "$n" ] && continue
    # Each node listens on API port 800m both inside the network and on the host.
    bootstrap="$bootstrap${bootstrap:+,}/dns4/node$m/tcp/9000/p2p/$(peer "$m")"
    nodes="$nodes${nodes:+,}http://node$m:800$m"
  done
  cat > "node$n.env" <<ENV
AETHEL_NODE_NAME=node-$n
AETHEL_NODE_KEY=/keys/node$n.key
AETHEL_PUBLIC_URL=http://node$n:800$n
AETHEL_VALIDATORS=$p1,$p2,$p3
AETHEL_P2P_BOOTSTRAP=$bootstrap
AETHEL_LATTICE_NODES=$nodes
ENV
done
echo "peer IDs: $p1 $p2 $p3"
