#!/usr/bin/env bash
# CPU time per round trip of two revisions, side by side in one run:
#
#   scripts/bench/round-trip-side-by-side.sh RUNS OLD_REV [NEW_REV]
#
# Builds the latency bench of OLD_REV (a git worktree of it, with its own target directory
# under target/side-by-side/) and of NEW_REV (the same; default: this work tree as it is),
# then runs them in turn RUNS times each (`ROUND_TRIP_CPU=20000`, the figure bench-report.sh
# reports) and prints each run's ratio of our loop to the bare mio loop and the medians.
# Why RUNS processes and not one long run: on these VMs the same binary's ratio moves by
# about 2 % from one process to the next (where its buffers and code land), more than within
# a run; the median over several processes, each revision taking turns, is what compares.
# Nothing else should run meanwhile (the bench pins its threads to CPUs 0 and 1). The
# worktrees and their builds stay under target/side-by-side/ for the next run (after a
# `cargo clean`, `git worktree prune` forgets them).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=$1 old=$2 new=${3:-}
base="$PWD/target/side-by-side"
mkdir -p "$base"

# The bench binary of a revision ("" = this work tree), built if needed; prints its path.
bench_of() {
  local rev=$1 dir target
  if [ -z "$rev" ]; then
    dir=$PWD target=$PWD/target
  else
    local id
    id=$(git rev-parse --short=12 "$rev^{commit}")
    dir="$base/src-$id" target="$base/target-$id"
    [ -d "$dir" ] || git worktree add -f --detach "$dir" "$id" >/dev/null 2>&1
  fi
  (cd "$dir" && CARGO_TARGET_DIR=$target cargo bench --bench latency --no-run --message-format=json 2>/dev/null) |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "latency" and m.get("executable"):
        print(m["executable"])'
}

old_bin=$(bench_of "$old")
new_bin=$(bench_of "$new")
[ -x "$old_bin" ] && [ -x "$new_bin" ] || { echo "error: a bench did not build" >&2; exit 1; }
echo "old: ${old} ($old_bin)"
echo "new: ${new:-work tree} ($new_bin)"
for ((r = 1; r <= runs; r++)); do
  for which in old new; do
    bin=old_bin; [ "$which" = new ] && bin=new_bin
    ROUND_TRIP_CPU=20000 "${!bin}" --bench | sed "s/^/$which run $r: /"
  done
done | python3 -c '
import re, statistics as st, sys
ratios = {"old": [], "new": []}
cpu = {"old": [], "new": []}
for line in sys.stdin:
    m = re.match(r"(\w+) run (\d+): cpu_round_trip path=(\S+) cpu_ns=(\S+)", line)
    if not m:
        continue
    which, run, path, ns = m[1], int(m[2]), m[3], float(m[4])
    cpu[which].append((run, path, ns))
for which in ("old", "new"):
    by_run = {}
    for run, path, ns in cpu[which]:
        by_run.setdefault(run, {})[path] = ns
    for run in sorted(by_run):
        ours, bare = by_run[run]["peerlab"], by_run[run]["mio_bare"]
        ratios[which].append(ours / bare)
        print(f"{which} run {run}: peerlab {ours:.0f} ns, bare mio {bare:.0f} ns, ratio {ours / bare:.3f}")
for which in ("old", "new"):
    r = ratios[which]
    print(f"{which}: CPU per round trip, peerlab / bare mio: median {st.median(r):.3f} (min {min(r):.3f}, max {max(r):.3f}, {len(r)} runs)")
'
