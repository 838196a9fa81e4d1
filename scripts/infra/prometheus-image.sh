#!/usr/bin/env bash
# Builds peerlab-prometheus:latest, a `FROM scratch` Prometheus image, from this host's Debian
# `prometheus` package (apt-get install prometheus; scripts/setup/setup-tools.sh does): the
# binary, the shared libraries `ldd` says it needs, its web assets, and the config of
# deploy/prometheus/. No base image is pulled, so it builds offline; online, the official
# prom/prometheus image can be used instead (docs/metrics.md).
#   usage: scripts/infra/prometheus-image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-peerlab-prometheus:latest}"
bin="$(command -v prometheus)" || { echo "prometheus-image: no prometheus binary (apt-get install prometheus)" >&2; exit 1; }
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/bin" "$root/etc/prometheus" "$root/prometheus" "$root/tmp"
cp "$bin" "$root/bin/prometheus"
# The dynamic loader and libraries, at the paths the binary asks for.
ldd "$bin" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
[ -d /usr/share/prometheus ] && { mkdir -p "$root/usr/share"; cp -r /usr/share/prometheus "$root/usr/share/"; }
mkdir -p "$root/usr/share/prometheus/console_libraries" "$root/usr/share/prometheus/consoles"
cp deploy/prometheus/prometheus.yml "$root/etc/prometheus/prometheus.yml"
# Owned by nobody (the image's user): the database is written there.
chmod 0777 "$root/prometheus" "$root/tmp"
cp deploy/prometheus/Dockerfile "$ctx/Dockerfile"
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
docker build -q -t "$tag" "$ctx" >/dev/null
echo "$tag"
