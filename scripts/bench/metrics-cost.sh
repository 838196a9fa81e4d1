#!/usr/bin/env bash
# What --metrics costs, measured on loopback: the time of a scrape (curl, GET /metrics, the
# median and the worst of 20) of a peer in a mesh of N (3 and 200 by default), and the peak
# RSS (VmHWM) and private memory of a peer of a 3-peer mesh with the endpoint off, on, and on
# and scraped 20 times, side by side in one run (medians of 3 rounds).
#   scripts/bench/metrics-cost.sh [--binary /path/to/process] [N ...]
# Peers on 127.62.0.x:10002 at 1 Hz, the first one with --metrics 127.62.0.1:9464. Run nothing
# else meanwhile.
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=""
if [ "${1:-}" = --binary ]; then binary=$2; shift 2; fi
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(3 200)
if [ -n "$binary" ]; then bin=$binary; else bin=$(scripts/bench/release-binary.sh); fi
command -v curl >/dev/null || { echo "metrics-cost: curl is needed" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
cp "$bin" "$tmp/process"; bin=$tmp/process

# mesh N METRICS(on|off): starts N peers; the first one's pid is $first.
mesh() {
  local n=$1 metrics=$2 k j addrs=()
  pids=()
  for ((k = 0; k < n; k++)); do addrs+=("127.62.$((k / 250)).$((k % 250 + 2)):10002"); done
  for ((k = 0; k < n; k++)); do
    local args=("${addrs[$k]}")
    for ((j = 0; j < n; j++)); do [ "$j" = "$k" ] || args+=("${addrs[$j]}"); done
    if [ "$k" = 0 ] && [ "$metrics" = on ]; then args=(--metrics 127.62.0.1:9464 "${args[@]}"); fi
    "$bin" "${args[@]}" >/dev/null 2>&1 &
    pids+=($!)
  done
  first=${pids[0]}
}
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }
# scrape COUNT -> "median worst bytes" in ms
scrape() {
  local i
  for ((i = 0; i < $1; i++)); do
    curl -s -o "$tmp/body" -w '%{time_total}\n' http://127.62.0.1:9464/metrics
  done | sort -n > "$tmp/times"
  awk -v b="$(wc -c < "$tmp/body")" '{t[NR]=$1} END {printf "%.2f %.2f %d\n", t[int((NR+1)/2)]*1000, t[NR]*1000, b}' "$tmp/times"
}
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

echo "| mesh | scrape, median | worst of 20 | exposition |"
echo "|---|---|---|---|"
for n in "${sizes[@]}"; do
  mesh "$n" on
  sleep $((n > 50 ? 10 : 4))
  read -r med worst bytes < <(scrape 20)
  echo "| $n peers | $med ms | $worst ms | $bytes bytes |"
  stop
done
echo
# Three rounds of off, on, on and scraped, from a dropped page cache each time (as root): the
# binary's pages in RSS depend on the page cache; the private (anonymous) memory does not.
anon() { awk '/^Anonymous:/ {print $2}' "/proc/$1/smaps_rollup"; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
for round in 1 2 3; do
  for mode in off on scraped; do
    sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    mesh 3 "$([ $mode = off ] && echo off || echo on)"
    sleep 3
    if [ $mode = scraped ]; then scrape 20 >/dev/null; fi
    sleep 1
    echo "$mode $(hwm "$first") $(anon "$first")" >> "$tmp/rss"
    stop
  done
done
echo "| 3-peer mesh, first peer (median of 3) | peak RSS (VmHWM) | private memory (Anonymous) |"
echo "|---|---|---|"
for mode in off on scraped; do
  h=$(awk -v m=$mode '$1 == m {print $2}' "$tmp/rss" | median)
  a=$(awk -v m=$mode '$1 == m {print $3}' "$tmp/rss" | median)
  echo "| --metrics $mode | $h KiB | $a KiB |"
done
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(uname -r), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), binary $(stat -c %s "$bin") bytes"
