#!/usr/bin/env bash
# One report scenario of Lab 1 (LAB1-SPEC §6), run for real: the shared resource and three
# `process mutex` on loopback (127.0.8N.x), typed at with timed keyboard input (CS time 1s),
# each writing its trace with --trace; then `process timeline` draws the figure and checks
# the run.
#
#   scripts/lab/scenarios.sh 1|2|3|4 [OUTDIR]     (OUTDIR defaults to target/scenarios/N)
#
#   1: one process requests; after it releases, another one requests.
#   2: one requests while another is in the CS: its REPLY is deferred until the holder leaves.
#   3: concurrent requests: P2 skews its clock (types 2 three times), then P3 (T=1) and P2
#      (T=4) ask at once; the earlier timestamp wins though 3 > 2. "At once" is a race on
#      loopback: the run is repeated (up to 5 times) until both asked before hearing the other.
#   4: a student's interactive session (CS time 4s): x typed in P1 then P2 while P1 is
#      inside, then in P3, P1 and P2 close together, then P2 types its id and P3 and P2 ask
#      at once: 100 or more events, most REQUESTs deferred for seconds.
#
# Leaves in OUTDIR: p{1,2,3}.jsonl (the traces), p{1,2,3}.txt (what each terminal showed),
# shared.txt (the resource), scenarioN.svg (x = Lamport clock), scenarioN-real.svg (wall
# clock; interactive.svg and interactive-real.svg for 4) and check.txt (`process timeline --check`; its status is this script's).
# PROCESS=/path/to/process picks the binary (default: cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/../.."

n="${1:-}"
case "$n" in 1 | 2 | 3 | 4) ;; *)
  echo "usage: $0 1|2|3|4 [OUTDIR]" >&2
  exit 2
  ;;
esac
out="${2:-target/scenarios/$n}"
if [ -z "${PROCESS:-}" ]; then
  cargo build --release --quiet
  PROCESS=target/release/process
fi
mkdir -p "$out"

net="127.0.8$n"
cs=1s
name="scenario$n"
if [ "$n" = 4 ]; then cs=4s name=interactive; fi
res="$net.1:10001"
addrs=("$net.2:10002" "$net.3:10003" "$net.4:10004")
pids=()
stop() {
  # The processes first (each says goodbye and ends its trace), then the resource.
  for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
  [ "${#pids[@]}" -gt 0 ] && kill -TERM "${pids[0]}" 2>/dev/null || true
  wait 2>/dev/null || true
  pids=()
  exec 3>&- 4>&- 5>&-
  rm -f "$out"/p?.in
}
trap stop EXIT

type_at() { echo "$2" >&$(($1 + 2)); }

once() {
  rm -f "$out"/p?.jsonl "$out"/p?.in
  "$PROCESS" shared-resource --listen "$res" >"$out/shared.txt" 2>&1 &
  pids+=($!)
  for id in 1 2 3; do
    mkfifo "$out/p$id.in"
    "$PROCESS" mutex --resource "$res" --cs-time "$cs" --trace "$out/p$id.jsonl" \
      "$id" "${addrs[@]}" <"$out/p$id.in" >"$out/p$id.txt" 2>&1 &
    pids+=($!)
    # Each keyboard stays open: fds 3, 4, 5 type at P1, P2, P3.
    eval "exec $((id + 2))>\"$out/p$id.in\""
  done
  # Everyone known to the resource before anyone types (until then a process defers every
  # REQUEST, which would muddle the figure).
  for id in 1 2 3; do
    for _ in $(seq 100); do
      grep -q '"of":"HELLO"' "$out/p$id.jsonl" 2>/dev/null && break
      sleep 0.05
    done
  done
  case "$n" in
  1)
    type_at 1 x
    sleep 2
    type_at 2 x
    sleep 2
    ;;
  2)
    type_at 1 x
    sleep 0.4 # P1 is inside (1 s)
    type_at 2 x
    sleep 2.5
    ;;
  3)
    for _ in 1 2 3; do type_at 2 2; done
    sleep 0.3
    type_at 3 x
    type_at 2 x
    sleep 3
    ;;
  4)
    type_at 1 x
    sleep 1
    type_at 2 x
    sleep 8.5
    type_at 3 x
    sleep 0.7
    type_at 1 x
    sleep 0.4
    type_at 2 x
    sleep 13
    type_at 2 2
    type_at 3 x
    type_at 2 x
    sleep 9
    ;;
  esac
  stop
}

for try in 1 2 3 4 5; do
  once
  # Scenario 3 happened if P3, WANTED, deferred P2's REQUEST.
  [ "$n" != 3 ] && break
  grep -q 'WANTED] REQUEST from 2 (T=4): deferred' "$out/p3.txt" && break
  echo "scenario 3, run $try: the requests were not concurrent; again" >&2
done

"$PROCESS" timeline "$out"/p?.jsonl -o "$out/$name.svg"
"$PROCESS" timeline --x real "$out"/p?.jsonl -o "$out/$name-real.svg" 2>/dev/null
if "$PROCESS" timeline --check "$out"/p?.jsonl >"$out/check.txt" 2>/dev/null; then status=0; else status=$?; fi
cat "$out/check.txt"
echo "scenario $n: $out/$name.svg, $out/$name-real.svg (traces: $out/p?.jsonl)"
exit "$status"
