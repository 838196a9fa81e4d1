#!/usr/bin/env bash
# Resource use of a full mesh of peers at 1 Hz on loopback, side by side with another peer
# program that takes the same arguments (e.g. the course's Go Process, built by you).
#
#   scripts/bench/resources.sh [--peers N] [--secs S] [--warmup W] [--other /path/to/Process]
#                              [--binary /path/to/process] [--syscalls] [--netns]
#
# Each peer gets its own loopback host (127.60.0.2, .3, ...; the other program 127.61.0.x) and
# port 10002, and lists its own address first, then the others, as in the handout. W seconds
# after the last one started (5 by default) a window of S seconds (60 by default) begins: the
# CPU time every process used in it (schedstat; user and system from /proc/PID/stat) is
# measured, then each process's peak RSS (VmHWM) is read, they are stopped (SIGTERM) and, for
# peerlab, the summaries' received and lost counts (the whole run) are added up. The machine's
# own CPU time in the window (/proc/stat: the kernel's softirq work is not in the processes'
# accounting) and the UDP datagrams it delivered (/proc/net/snmp) give the cost per datagram;
# run nothing else meanwhile. --binary measures that peerlab binary instead of building one.
# --syscalls: after the window, `strace` on the first peer for 5 s: its system calls per
# datagram it received (strace slows that peer, so it is not in the window's figures).
# --netns (root, `ip`): the same run in a network namespace made for it and removed after, as a
# container has one: the host's firewall rules are then not in the figures (on a host where
# Docker runs, its NAT rules make the kernel track every UDP flow: netfilter conntrack, about an
# eighth of a datagram's cost). The header says which namespace, and how many flows the kernel
# tracked in it.
# Prints one markdown table; `scripts/bench/bench-report.sh` puts it into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

peers=3 secs=60 warmup=5 other="" binary="" syscalls="" netns=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; args+=("$1" "$2"); shift 2 ;;
    --syscalls) syscalls=1; args+=("$1"); shift ;;
    --netns) netns=1; shift ;;
    --peers) peers=$2; args+=("$1" "$2"); shift 2 ;;
    --secs) secs=$2; args+=("$1" "$2"); shift 2 ;;
    --warmup) warmup=$2; args+=("$1" "$2"); shift 2 ;;
    --other) other=$2; args+=("$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [--peers N] [--secs S] [--warmup W] [--other /path/to/Process] [--binary /path/to/process] [--syscalls] [--netns]" >&2; exit 2 ;;
  esac
done
[ "$peers" -ge 2 ] && [ "$peers" -le 200 ] || { echo "--peers must be 2..200" >&2; exit 2; }

if [ -n "$netns" ]; then
  command -v ip >/dev/null && [ "$(id -u)" -eq 0 ] || { echo "--netns needs root and ip (iproute2)" >&2; exit 2; }
  ns=peerlab-mesh-$$
  ip netns add "$ns"
  trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
  ip netns exec "$ns" ip link set lo up
  status=0
  MESH_NETNS=$ns ip netns exec "$ns" "$PWD/scripts/bench/resources.sh" "${args[@]}" || status=$?
  exit "$status"
fi
# Where the mesh runs, for the header: a namespace made by --netns (the run above) or the host's.
if [ -n "${MESH_NETNS:-}" ]; then where="in a network namespace of its own (\`--netns\`)"; else where="in the host's network namespace"; fi

# The static musl binary (what the image ships) if the target is installed, else the default.
if [ -n "$binary" ]; then ours=$binary; else ours=$(scripts/bench/release-binary.sh); fi

tmp=$(mktemp -d)
pids_ours=() pids_other=()
# KEEP=DIR keeps every process's output there (to see where a loss was counted).
cleanup() {
  kill "${pids_ours[@]}" "${pids_other[@]}" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$tmp"/*.log "$KEEP"/ 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Run copies, from a dropped page cache (as root), as scripts/bench/rss-side-by-side.sh does: how much
# of a binary's text is resident depends on how its file sits in the page cache (a file the
# linker just wrote differs from a copied one), not only on the code.
label_ours=$ours label_other=$other
cp "$ours" "$tmp/ours.bin"; ours=$tmp/ours.bin
if [ -n "$other" ]; then cp "$other" "$tmp/other.bin"; other=$tmp/other.bin; fi
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true

# start_mesh NAME BINARY SECOND_OCTET -> pids in pids_NAME
start_mesh() {
  local name=$1 bin=$2 net=$3 k
  local addrs=()
  for ((k = 0; k < peers; k++)); do addrs+=("127.$net.0.$((k + 2)):10002"); done
  # Its own address first, then the others from the next one on. Built by slicing, not one
  # by one: while a mesh starts, every datagram to a peer not yet up costs the kernel a scan
  # of every socket on the port (BENCHMARKS.md), so a slow start is a long saturated one.
  for ((k = 0; k < peers; k++)); do
    "$bin" "${addrs[@]:k}" "${addrs[@]:0:k}" >"$tmp/$name.$k.log" 2>&1 &
    eval "pids_$name+=($!)"
  done
}

# sample NAME -> lines "pid cpu_ns utime_ticks stime_ticks" (bash builtins only: forking a
# reader per process would take seconds in a 200-process mesh that fills both cores).
sample() {
  local name=$1 pid f t sum st
  eval "local list=(\"\${pids_$name[@]}\")"
  for pid in "${list[@]}"; do
    sum=0
    # Every thread's time on a CPU (the Go runtime runs several), in ns.
    for f in /proc/"$pid"/task/*/schedstat; do read -r t _ <"$f" && sum=$((sum + t)); done
    read -r -a st <"/proc/$pid/stat"
    echo "$pid $sum ${st[13]} ${st[14]}"
  done
}

# A quiet start: wait (60 s at most) until at most three tasks are runnable, this script's
# included (a mesh measured just before may still be stopping: 200 processes printing their
# summaries made the next run start at a load average of 63).
for ((w = 0; w < 120; w++)); do
  read -r _ _ _ runnable _ </proc/loadavg
  [ "${runnable%/*}" -le 3 ] && break
  sleep 0.5
done
m_start=$(awk '/^Udp: [0-9]/ {print $6}' /proc/net/snmp)
start_mesh ours "$ours" 60
[ -n "$other" ] && start_mesh other "$other" 61
# The measured window starts once every process is up and past its start (a 200-process
# mesh takes a few seconds to launch on 2 cores): CPU is what the window used, not the start.
# machine -> "busy_ticks udp_in_datagrams udp_rcvbuf_errors": every CPU's non-idle time (user,
# nice, system, irq, softirq, steal), the UDP datagrams the kernel delivered to sockets and
# those it dropped because a socket's receive buffer was full.
machine() {
  local cpu user nice sys idle iowait irq softirq steal rest line udp=0 full=0 header=""
  read -r cpu user nice sys idle iowait irq softirq steal rest </proc/stat
  while read -r line; do
    case $line in
      Udp:\ InDatagrams*) header=1 ;;
      Udp:*) [ -n "$header" ] && { read -r _ udp _ _ _ full _ <<<"$line"; header=""; } ;;
    esac
  done </proc/net/snmp
  echo "$((user + nice + sys + irq + softirq + steal)) $udp $full"
}

sleep "$warmup"
t0=$(date +%s.%N)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
m0=$(machine)
sample ours >"$tmp/cpu0.ours"
[ -n "$other" ] && sample other >"$tmp/cpu0.other"
sleep "$secs"
sample ours >"$tmp/cpu1.ours"
[ -n "$other" ] && sample other >"$tmp/cpu1.other"
m1=$(machine)
# Flows the kernel's connection tracking holds in this namespace (none: not at work here).
tracked=$(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0)
load1=$(cut -d' ' -f1-3 /proc/loadavg)
t1=$(date +%s.%N)
elapsed=$(awk -v s="$t0" -v e="$t1" 'BEGIN {printf "%.1f", e - s}')

# measure NAME -> "rss_mean rss_max cpu_mean_ms cpu_max_ms cpu_total_ms user_share_%"
measure() {
  local name=$1 pid rss line
  eval "local list=(\"\${pids_$name[@]}\")"
  for pid in "${list[@]}"; do
    rss=0
    while read -r line; do
      case $line in VmHWM:*) read -r _ rss _ <<<"$line" ;; esac
    done <"/proc/$pid/status"
    echo "$pid $rss"
  done >"$tmp/rss.$name"
  awk -v hz="$(getconf CLK_TCK)" '
    FILENAME ~ /rss/ {rss[$1] = $2; next}
    FILENAME ~ /cpu0/ {c0[$1] = $2; u0[$1] = $3; s0[$1] = $4; next}
    {c = ($2 - c0[$1]) / 1e6; ct += c; if (c > cm) cm = c; u += $3 - u0[$1]; s += $4 - s0[$1]
     r = rss[$1]; rt += r; if (r > rm) rm = r; n++}
    END {printf "%.0f %d %.1f %.1f %.1f %s\n", rt / n, rm, ct / n, cm, ct, (u + s >= 100 ? sprintf("%.0f %%", 100 * u / (u + s)) : "n/a")}
  ' "$tmp/rss.$name" "$tmp/cpu0.$name" "$tmp/cpu1.$name"
}
if [ -n "$syscalls" ] && command -v strace >/dev/null; then
  timeout -s INT 5 strace -f -o "$tmp/strace.txt" -p "${pids_ours[0]}" 2>/dev/null || true
fi
m_ours=$(measure ours)
[ -n "$other" ] && m_other=$(measure other)

kill -TERM "${pids_ours[@]}" "${pids_other[@]}" 2>/dev/null || true
wait 2>/dev/null || true

# Our summaries: rows after the header; columns from the right: errors foreign restarts
# reordered dup lost received sent address name.
read -r received lost < <(cat "$tmp"/ours.*.log | awk '
  /^peer +(address +)?sent +received/ {table = 1; next}
  # A row ends in eight numbers (notices printed after the table do not).
  table && NF >= 9 {
    for (k = NF - 7; k <= NF; k++) if ($k !~ /^[0-9]+$/) next
    r += $(NF - 6); l += $(NF - 5)
  }
  END {printf "%d %d\n", r, l}')
other_received=""
[ -n "$other" ] && other_received=$(cat "$tmp"/other.*.log | grep -c '^Received' || true)

row() { # label measurement received lost
  read -r rm rx cm cx ct us <<<"$2"
  local share
  share=$(awk -v c="$ct" -v e="$elapsed" 'BEGIN {printf "%.3f", c / (e * 1000) * 100}')
  printf '| %s | %d | %s s | %s / %s | %s / %s | %s %% | %s | %s | %s |\n' "$1" "$peers" "$elapsed" "$rm" "$rx" "$cm" "$cx" "$share" "$us" "$3" "$4"
}

if [ "$tracked" -gt 0 ]; then tracking="the kernel tracking $tracked flows (netfilter conntrack)"; else tracking="no connection tracking"; fi
echo "Full mesh of $peers peers at 1 Hz on loopback $where, $tracking, measured for ${secs} s from ${warmup} s after the last start: $(nproc) cores, Linux $(uname -r), $(date -u '+%Y-%m-%d %H:%M') UTC, load average $load0 at the start and $load1 at the end of the window."
echo
echo "| program | peers | window | peak RSS per peer, KiB (mean / max) | CPU time per peer in the window, ms (mean / max) | whole mesh, % of one core | of it in user space | counters received | lost |"
echo "|---|---|---|---|---|---|---|---|---|"
row "peerlab (\`$label_ours\`)" "$m_ours" "$received" "$lost"
if [ -z "$other" ]; then
  # The whole machine in the window: only meaningful with nothing else running.
  read -r b0 u0 f0 <<<"$m0"; read -r b1 u1 f1 <<<"$m1"
  awk -v b="$((b1 - b0))" -v u="$((u1 - u0))" -v f="$((f1 - f0))" -v fall="$(($(awk '/^Udp: [0-9]/ {print $6}' /proc/net/snmp) - m_start))" -v hz="$(getconf CLK_TCK)" -v e="$elapsed" -v own="$(read -r _ _ _ _ ct _ <<<"$m_ours"; echo "$ct")" 'BEGIN {
    cpu = b / hz; printf "\nThe whole machine in the window (/proc/stat, /proc/net/snmp): %.1f %% of one core busy, %d UDP datagrams delivered (%.0f a second), %d dropped for a full receive buffer (%d over the whole run, start included); per datagram %.1f µs of the machine'"'"'s CPU time, %.1f µs of the peers'"'"' own.\n",
      100 * cpu / e, u, u / e, f, fall, (u > 0 ? 1e6 * cpu / u : 0), (u > 0 ? 1e3 * own / u : 0) }'
fi
if [ -s "$tmp/strace.txt" ]; then
  # One line a call ("NAME(...) = RET ..."): calls and failures per system call, and the
  # datagrams received (a recvmmsg returns how many it took, a recvfrom one).
  awk '{sub(/^[0-9]+ +/, "")}  # strace -f: the thread id first
       /^[a-z_0-9]+\(/ {name = substr($0, 1, index($0, "(") - 1); n = split($0, f, ") = ")
         ret = f[n]; sub(/ .*/, "", ret); calls[name]++; total++
         if (ret + 0 < 0) errs[name]++
         else if (name == "recvmmsg") got += ret
         else if (name == "recvfrom") got++}
       END {if (got <= 0) {print "\nSystem calls of the first peer over 5 s: no datagram received."; exit}
            printf "\nSystem calls of the first peer over 5 s (`strace`, after the window): %d datagrams received, %.2f system calls per datagram received:", got, total / got
            for (k in calls) printf " %s %.2f%s", k, calls[k] / got, (errs[k] > 0 ? sprintf(" (%d failed)", errs[k]) : "")
            printf ".\n"}' "$tmp/strace.txt"
fi
if [ -n "$other" ]; then
  row "\`$label_other\`" "$m_other" "$other_received" "not reported"
  read -r orm _ ocm _ _ <<<"$m_other"
  read -r rm _ cm _ _ <<<"$m_ours"
  awk -v a="$rm" -v b="$orm" -v c="$cm" -v d="$ocm" 'BEGIN {
    printf "| ratio peerlab / other | | | %.2f | %.2f | | | | |\n", a / b, (d > 0 ? c / d : 0) }'
fi
