#!/usr/bin/env bash
# Makes hot-symbols.txt: the functions a running counter peer executes, which the
# release musl build (build.rs) links together at the start of the text.
#
#   scripts/bench/hot-symbols.sh          (needs valgrind; perf, if present, adds what valgrind misses)
#   scripts/bench/hot-symbols.sh --check  (how many of the list's names the binary still defines;
#                                          fails under 90%: tests/image_build.rs runs it)
#
# It builds the same release binary without stripping its symbols (`-C strip=none` on the
# final crate only, so every name is the one the shipped build links), runs one peer in a
# 3-peer mesh (one neighbour up, one down, then both up, then held while both send; text and
# --json output, stopped with SIGTERM so the summary is included) under callgrind, and lists
# every function that ran.
# Then, without valgrind, it records the page faults of the same run and adds the function
# at each faulting instruction (the few that valgrind's own start-up hides). Names depend on
# the toolchain: run it again after a Rust upgrade (stale names are ignored, not an error).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."
list=${HOT_SYMBOLS:-hot-symbols.txt}
case "${1:-}" in
  "") check= ;;
  --check) check=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
[ -n "$check" ] || command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
command -v nm >/dev/null || { echo "nm is needed (apt-get install binutils)" >&2; exit 1; }
tdir=target/hot-symbols
cargo rustc --release --quiet --locked --target x86_64-unknown-linux-musl --bin process --target-dir "$tdir" -- -C strip=none
bin="$tdir/x86_64-unknown-linux-musl/release/process"

if [ -n "$check" ]; then
  # The linker skips names the binary does not define (--no-warn-symbol-ordering), so a list
  # gone stale after a code change or a Rust upgrade only shows here.
  defined=$(mktemp)
  trap 'rm -f "$defined"' EXIT
  nm --defined-only "$bin" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u >"$defined"
  names() { awk '!/^#/ && NF {print $1}' "$list" | sort -u; }
  total=$(names | wc -l)
  found=$(names | comm -12 - "$defined" | wc -l)
  pct=$(( total ? found * 100 / total : 0 ))
  echo "$list: $found of $total names are in the binary ($pct%), $(rustc --version | cut -d' ' -f1-2)"
  if [ "$pct" -lt 90 ]; then
    echo "$list is stale (under 90%): make it again with scripts/bench/hot-symbols.sh (needs valgrind)," \
      "with the Rust of Dockerfile.alpine's image" >&2
    exit 1
  fi
  exit 0
fi
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

# scenario WRAPPER... : this peer (under WRAPPER) with 127.0.95.3 up at once and .4 later;
# text output with the containers' shape (one port, a host each) into a file, then --json
# with the handout's local shape (one host, a port each) into a pipe: each takes its own path
# (stdout's kind decides how it is written; /dev/null would hide both).
scenario() {
  local mode a b c out
  for mode in "" --json; do
    if [ -z "$mode" ]; then a=127.0.95.2:10002 b=127.0.95.3:10002 c=127.0.95.4:10002 out=$tmp/out.txt
    else
      a=127.0.95.2:10002 b=127.0.95.2:10003 c=127.0.95.2:10004 out=$tmp/fifo
      rm -f "$out"; mkfifo "$out"; cat "$out" >/dev/null &
    fi
    "$@" "$bin" $mode $a $b $c >"$out" 2>&1 & local me=$!
    sleep 1
    "$bin" $b $a $c >/dev/null 2>&1 & local p2=$!
    sleep 2
    "$bin" $c $a $b >/dev/null 2>&1 & local p3=$!
    sleep 3
    # The peer itself (under perf it is perf's child).
    local child; child=$(ps -o pid= --ppid "$me" | head -1 | tr -d " " || true)
    # Held while both neighbours send: it wakes with several datagrams queued and takes them
    # as a batch (its lines held and written together), as it does whenever two arrive at
    # once (the broadcasts share a phase). Missing from the list, that path mapped 128 KiB of
    # cold code into a peer of a 3-peer mesh started all at once, in some runs.
    kill -STOP "${child:-$me}"; sleep 2.5; kill -CONT "${child:-$me}"; sleep 1
    kill "$p3"; sleep 1.5
    kill -TERM "${child:-$me}"; wait "$me" || true; kill "$p2"; wait "$p2" "$p3" || true
  done
}

# --show-below-main: valgrind otherwise names __libc_start_main "(below main)", and it stayed
# at the end of the text.
scenario valgrind --tool=callgrind --demangle=no --show-below-main=yes --callgrind-out-file="$tmp/cg.%p" -q
cat "$tmp"/cg.* | sed -n "s/^c\?fn=([0-9]*) //p" | sed "s/'[0-9]*\$//" >"$tmp/names"
# valgrind runs its own copies of the C library's memory and string functions, so callgrind
# never sees the binary's run: they are named here (kept below only if the binary defines
# them). memcpy was found only by the page-fault pass below, when its page happened to fault.
printf '%s\n' memcpy memmove memset memcmp bcmp strlen strnlen memchr memrchr >>"$tmp/names"

if command -v perf >/dev/null && perf record -q -e page-faults -o "$tmp/probe.data" true 2>/dev/null; then
  scenario perf record -q -e page-faults -c 1 -o "$tmp/pf.data" --
  # The function at each faulting instruction (perf names the symbol that holds it).
  perf script -i "$tmp/pf.data" -F ip,sym 2>/dev/null | awk '$2 != "[unknown]" {print $2}' >>"$tmp/names" || true
fi
# Kept only if the binary defines it (perf prints demangled names for some: those drop out).
nm --defined-only "$bin" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u >"$tmp/defined"
sort -u "$tmp/names" | comm -12 - "$tmp/defined" >"$tmp/hot"
# In address order of the unordered link is as good as any: they end up together either way.
{
  echo "# Functions a running peer executes (scripts/bench/hot-symbols.sh, $(rustc --version | cut -d' ' -f1-2))."
  echo "# build.rs links them first; see that file."
  cat "$tmp/hot"
} >"$list"
echo "$(wc -l <"$tmp/hot") functions -> $list"
