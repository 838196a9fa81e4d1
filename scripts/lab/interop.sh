#!/usr/bin/env bash
# Runs our peer beside another implementation of the handout's Process (e.g. the course's Go
# program, built by you: CGO_ENABLED=0 go build) and checks that counters flow both ways.
#   scripts/lab/interop.sh /path/to/Process [seconds]
set -euo pipefail
other=${1:?usage: scripts/lab/interop.sh /path/to/other/Process [seconds]}
secs=${2:-4}
cd "$(dirname "$0")/../.."
cargo build --release --quiet
ours=target/release/process
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$other" 127.0.0.1:10102 127.0.0.1:10103 >"$tmp/other.log" 2>&1 &
"$ours" 127.0.0.1:10103 127.0.0.1:10102 >"$tmp/ours.log" 2>&1 &
ours_pid=$!
sleep "$secs"
kill -TERM "$ours_pid"; wait "$ours_pid" || true

# The Go program prints "Received  7  from  127.0.0.1:10103" (extra spaces).
theirs=$(grep -cE '^Received +[0-9]+ +from +127\.0\.0\.1:10103' "$tmp/other.log" || true)
# It sends from a random port, so ours shows it as a bare address.
mine=$(grep -cE '^Received [0-9]+ from 127\.0\.0\.1:[0-9]+$' "$tmp/ours.log" || true)
echo "other program received $theirs counters from ours; ours received $mine from it"
sed -n '/^summary/,$p' "$tmp/ours.log"
if [ "$theirs" -ge 2 ] && [ "$mine" -ge 2 ]; then
  echo "interop: OK"
else
  echo "interop: FAILED"; echo "--- other:"; cat "$tmp/other.log"; echo "--- ours:"; cat "$tmp/ours.log"
  exit 1
fi
