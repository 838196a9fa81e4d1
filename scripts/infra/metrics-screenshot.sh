#!/usr/bin/env bash
# Makes docs/metrics-prometheus.png: a real Prometheus (Debian's) scraping a 3-peer mesh in a
# network namespace where the kernel drops a tenth of what reaches p2 (iptables -m statistic),
# its graph page of peerlab_peer_counters_lost rendered by headless Chromium. Needs root,
# prometheus, chromium (scripts/setup/setup-tools.sh) and a release build of the binary.
#   usage: scripts/infra/metrics-screenshot.sh [SECONDS]   (default 60 of traffic)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-60}"
bin="${PEERLAB_BIN:-target/release/process}"
[ -x "$bin" ] || cargo build --release --locked
ns="peerlab-shot-$$"
dir="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" iptables -A INPUT -p udp --dport 10003 -m statistic --mode random --probability 0.1 -j DROP
a=(127.0.0.1:10002 127.0.0.1:10003 127.0.0.1:10004)
for k in 0 1 2; do
    others=()
    for j in 0 1 2; do [ "$j" = "$k" ] || others+=("${a[$j]}"); done
    ip netns exec "$ns" "$bin" --interval 250ms --metrics "127.0.0.1:$((19462 + k))" "${a[$k]}" "${others[@]}" >/dev/null 2>&1 &
    pids+=($!)
done
cat > "$dir/prometheus.yml" <<YML
global:
  scrape_interval: 2s
scrape_configs:
  - job_name: peerlab
    static_configs:
      - targets: ['127.0.0.1:19462', '127.0.0.1:19463', '127.0.0.1:19464']
YML
ip netns exec "$ns" prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address=127.0.0.1:9090 >"$dir/prometheus.log" 2>&1 &
pids+=($!)
sleep "$secs"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome)"
expr='peerlab_peer_counters_lost'
url="http://127.0.0.1:9090/graph?g0.expr=$expr&g0.tab=0&g0.range_input=${secs}s"
ip netns exec "$ns" "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1200,1000 --virtual-time-budget=10000 \
    --screenshot="$PWD/docs/metrics-prometheus.png" "$url" >/dev/null 2>&1
echo "docs/metrics-prometheus.png: $url after ${secs}s of traffic ($(date -u +%Y-%m-%dT%H:%MZ), $(uname -r))"
