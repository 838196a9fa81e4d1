#!/usr/bin/env bash
# Peak RSS of several peer binaries measured fairly, side by side in one run:
#
#   scripts/bench/rss-side-by-side.sh RUNS BINARY...
#
# Each binary is first copied (`cp`) to a fresh file and the page cache is dropped (as root),
# because on this kind of kernel the resident size of a program's text depends on how its file
# sits in the page cache (large folios, fault-around): a file written by the linker, one copied
# with `cp` and one partly evicted give different figures for the same code. Then, RUNS times,
# every binary runs at once as two peers with a third peer down (127.0.17x.x; UP=3 starts the
# third too: the handout's full 3-peer mesh), and after SECS seconds (3 by default) the first
# peer's VmHWM is read. Prints each run, the means and the medians.
set -euo pipefail
runs=$1; shift
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
bins=()
for b in "$@"; do
  c="$tmp/$(basename "$b").$((${#bins[@]}))"
  cp "$b" "$c"; bins+=("$c")
done
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(page cache not dropped: not root)" >&2
declare -A sum all
for ((r = 0; r < runs; r++)); do
  pids=() firsts=() i=0
  for b in "${bins[@]}"; do
    n=$((170 + i)); i=$((i + 1))
    # Output into a file, as a real peer's goes to a file or a pipe (/dev/null takes another
    # path through std's stdout set-up, which a peer never runs).
    "$b" "127.0.$n.2:10002" "127.0.$n.3:10003" "127.0.$n.4:10004" >"$tmp/out.$i" 2>&1 & firsts+=($!); pids+=($!)
    "$b" "127.0.$n.3:10003" "127.0.$n.2:10002" "127.0.$n.4:10004" >"$tmp/out2.$i" 2>&1 & pids+=($!)
    if [ "${UP:-2}" = 3 ]; then
      "$b" "127.0.$n.4:10004" "127.0.$n.2:10002" "127.0.$n.3:10003" >"$tmp/out3.$i" 2>&1 & pids+=($!)
    fi
  done
  sleep "${SECS:-3}"
  line="run $r:"
  for ((k = 0; k < ${#bins[@]}; k++)); do
    v=$(awk '/^VmHWM/ {print $2}' "/proc/${firsts[k]}/status")
    sum[$k]=$(( ${sum[$k]:-0} + v )); all[$k]="${all[$k]:-} $v"; line="$line $v"
  done
  echo "$line KiB"
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
done
for ((k = 0; k < ${#bins[@]}; k++)); do
  median=$(printf '%s\n' ${all[$k]} | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}')
  echo "mean peak RSS $(( ${sum[$k]} / runs )) KiB, median $median KiB: $(basename "${bins[k]}" | sed 's/\.[0-9]*$//') ($1)"
  shift
done
