#!/usr/bin/env bash
# A real two-node Docker Swarm on one machine, for tests/docker.rs: a second dockerd in a
# network namespace, joined as a worker over a veth pair in 198.18.200.0/24.
#
#   scripts/infra/swarm-two-nodes.sh up IMAGE   # prints the worker's docker socket; IMAGE is loaded there
#   scripts/infra/swarm-two-nodes.sh down       # leaves the swarm and removes everything it made
#
# The host's engine is the manager (advertised on 198.18.200.1), the namespace's the worker
# (198.18.200.2); nodes carry the label peerlab=manager / peerlab=worker for placement.
# Inside `ip netns exec` (a fresh /sys), the worker gets its own tmpfs on /sys/fs/cgroup with
# each cgroup v1 hierarchy of the host, its own --data-root, --exec-root, socket and pidfile,
# and a daemon.json with its own bridge and address pools (still in 198.18.0.0/15).
set -euo pipefail
NS=peerlab-node2
ROOT=/tmp/peerlab-node2
SOCK=unix://$ROOT/docker.sock
N2=(docker -H "$SOCK")

down() {
  "${N2[@]}" swarm leave --force >/dev/null 2>&1 || true
  docker swarm leave --force >/dev/null 2>&1 || true
  local pid
  pid=$(cat $ROOT/docker.pid 2>/dev/null || true)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  ip netns del $NS 2>/dev/null || true
  rm -rf /etc/netns/$NS
  ip link del pl-n2h 2>/dev/null || true
  rm -rf $ROOT
}

up() {
  local image=$1
  down
  ip netns add $NS
  ip link add pl-n2h type veth peer name pl-n2c
  ip link set pl-n2c netns $NS
  ip addr add 198.18.200.1/24 dev pl-n2h
  ip link set pl-n2h up
  ip netns exec $NS ip addr add 198.18.200.2/24 dev pl-n2c
  ip netns exec $NS ip link set pl-n2c up
  ip netns exec $NS ip link set lo up
  ip netns exec $NS ip route add default via 198.18.200.1
  mkdir -p $ROOT/data $ROOT/exec /etc/netns/$NS
  # The worker tries to pull images it already has: a nameserver on the host's side of the
  # veth, where nothing listens, makes that fail at once (ICMP) instead of after 20 s of
  # timeouts on a machine without internet.
  echo "nameserver 198.18.200.1" > /etc/netns/$NS/resolv.conf
  cat > $ROOT/daemon.json <<JSON
{"bip": "198.18.201.1/24", "default-address-pools": [{"base": "198.18.208.0/20", "size": 24}], "dns": ["198.18.200.1"]}
JSON
  local cgroups
  cgroups=$(awk '$3 == "cgroup" {print $2 " " $4}' /proc/mounts | sed 's/,.*//')
  cat > $ROOT/run.sh <<SH
#!/bin/sh
set -e
mount -t tmpfs cgroup /sys/fs/cgroup
echo "$cgroups" | while read -r dir opts; do
  [ -n "\$dir" ] || continue
  mkdir -p "\$dir"
  h=\$(basename "\$dir")
  case "\$h" in systemd) mount -t cgroup -o none,name=systemd cgroup "\$dir" ;; *) mount -t cgroup -o "\$h" cgroup "\$dir" ;; esac
done
exec dockerd --data-root $ROOT/data --exec-root $ROOT/exec -H $SOCK --pidfile $ROOT/docker.pid --config-file $ROOT/daemon.json
SH
  chmod +x $ROOT/run.sh
  setsid ip netns exec $NS unshare -m $ROOT/run.sh >$ROOT/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 100); do "${N2[@]}" info >/dev/null 2>&1 && break; sleep 0.2; done
  "${N2[@]}" info >/dev/null || { tail -20 $ROOT/dockerd.log >&2; exit 1; }
  docker swarm init --advertise-addr 198.18.200.1 >/dev/null
  "${N2[@]}" swarm join --token "$(docker swarm join-token -q worker)" --advertise-addr 198.18.200.2 198.18.200.1:2377 >/dev/null
  for n in $(docker node ls -q); do
    docker node update --label-add "peerlab=$(docker node inspect -f '{{.Spec.Role}}' "$n")" "$n" >/dev/null
  done
  docker save "$image" | "${N2[@]}" load >/dev/null
  echo "$SOCK"
}

case "${1:-}" in
  up) up "${2:?usage: $0 up IMAGE}" ;;
  down) down ;;
  *) echo "usage: $0 up IMAGE | down" >&2; exit 2 ;;
esac
