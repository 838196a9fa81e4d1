#!/usr/bin/env bash
# What acknowledging a deferral (DEFERRED) costs and saves, side by side in one run: three
# `--auto 1s --cs-time 1s` processes (AUTO=, CS= change them) and the shared resource in a fresh
# network namespace, for SECS seconds, once per binary given; LOSS=20 drops 20% of the
# datagrams (iptables). Prints,
# per binary: CS entries, REQUEST/REPLY per entry, of which resends, DEFERRED per entry, and
# the waits from request to entry (p50, p99, max).
#
#   sudo scripts/lab/deferral-cost.sh OLD_BINARY NEW_BINARY        (SECS=40 LOSS=0 by default)
set -euo pipefail
secs=${SECS:-40}
loss=${LOSS:-0}
auto=${AUTO:-1s}
cs=${CS:-1s}
[ $# -ge 1 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
printf '%-28s %5s %8s %8s %9s %12s\n' "binary (loss $loss%)" entries "msgs/CS" resends "DEFERRED" "wait p50/p99/max ms"
for bin in "$@"; do
  ns=peerlab-dc-$$
  dir=$(mktemp -d)
  ip netns add "$ns"
  trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
  ip netns exec "$ns" ip link set lo up
  if [ "$loss" != 0 ]; then
    ip netns exec "$ns" iptables -A INPUT -m statistic --mode random --probability "$(awk "BEGIN{print $loss/100}")" -j DROP
  fi
  ip netns exec "$ns" timeout -s INT $((secs + 3)) "$bin" shared-resource --listen 127.0.0.1:10001 :10002 :10003 :10004 >"$dir/resource.out" 2>&1 &
  sleep 0.3
  for id in 1 2 3; do
    ip netns exec "$ns" timeout -s INT "$secs" "$bin" mutex --json --auto "$auto" --cs-time "$cs" --seed "$id" "$id" :10002 :10003 :10004 </dev/null >"$dir/p$id.jsonl" 2>&1 &
  done
  wait
  ip netns del "$ns"
  trap - EXIT
  python3 - "$bin" "$dir" <<'PY'
import json, sys, glob
name, d = sys.argv[1], sys.argv[2]
entries = sent = resent = deferred = 0
waits = []
for f in sorted(glob.glob(d + "/p*.jsonl")):
    for line in open(f):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if v.get("event") == "entered":
            waits.append(v["waited_ms"])
        if v.get("event") == "mutex_summary":
            entries += v["entries"]; sent += v["sent"]; resent += v["resent"]
            deferred += v.get("deferred_sent", 0)
waits.sort()
q = lambda p: waits[min(len(waits) - 1, int(p * len(waits)))] if waits else 0
e = max(entries, 1)
print(f"{name[-28:]:<28} {entries:>5} {sent/e:>8.1f} {resent/e:>8.1f} {deferred/e:>9.1f} {q(0.5):>5}/{q(0.99)}/{waits[-1] if waits else 0}")
PY
  rm -rf "$dir"
done
