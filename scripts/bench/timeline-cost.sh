#!/usr/bin/env bash
# What `process timeline` costs on large and adversarial traces, for several binaries side by side:
#
#   scripts/bench/timeline-cost.sh [--skip-slow SECONDS] BIN [BIN...]
#
# Generates into a temporary directory (removed at the end) with scripts/timeline/traces.py:
# valid 3-process runs of 5, 50 and 100 MB, a recorded session pasted onto itself to 1 and
# 5 MB (repeat: equal clocks piled on the same places of a figure), never-leave 2000 and 4000 (every process inside
# at once: N(N-1)/2 mutual-exclusion violations), lanes 10000 (10,000 process lines) and
# resends 40000 (one REQUEST and its REPLY sent 40,000 times each). Then, for each input, each
# mode (`timeline DIR -o OUT.svg`, `timeline --check DIR` with stdout to a file, `timeline
# --format shiviz DIR -o OUT`) and each BIN in turn, measures with /usr/bin/time the CPU time
# (user + sys), the peak RSS, the exit status and the output's size in bytes, and prints a
# Markdown table (then every measurement raw, wall time included).
#
# Each run is stopped after SECONDS (600 by default; `--skip-slow` sets it), shown as
# `> N s (stopped)`; a BIN stopped on an input is not run on the larger inputs of the same
# generator in that mode (`> N s (skipped)`). Each run's address space is limited to 8 GiB
# (prlimit --as; MEM_LIMIT=bytes changes it): an allocation refused there shows as
# `out of memory`. INPUTS='run 0.2;lanes 30' replaces the list of inputs (for a quick try).
set -euo pipefail

limit=600
while [[ $# -gt 0 ]]; do
  case "$1" in
    --skip-slow)
      [[ $# -ge 2 && $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || { echo "error: --skip-slow takes a number of seconds" >&2; exit 2; }
      limit=$2; shift 2 ;;
    --skip-slow=*)
      limit=${1#*=}
      [[ $limit =~ ^[0-9]+$ && $limit -gt 0 ]] || { echo "error: --skip-slow takes a number of seconds" >&2; exit 2; }
      shift ;;
    -h | --help)
      sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) echo "error: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { echo "usage: $0 [--skip-slow SECONDS] BIN [BIN...]" >&2; exit 2; }

# The binaries as absolute paths (the script moves to the repository's root).
bins=()
for b in "$@"; do
  if [[ $b == */* ]]; then
    [[ -x $b && -f $b ]] || { echo "error: $b is not an executable file" >&2; exit 2; }
    bins+=("$(cd "$(dirname "$b")" && pwd)/$(basename "$b")")
  else
    p=$(command -v "$b") || { echo "error: $b: not found" >&2; exit 2; }
    bins+=("$p")
  fi
done
for tool in /usr/bin/time timeout prlimit python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 2; }
done

cd "$(dirname "$0")/../.."
mem=${MEM_LIMIT:-$((8 << 30))}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/timeline-cost.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

IFS=';' read -r -a inputs <<<"${INPUTS:-run 5;run 50;run 100;repeat 1;repeat 5;never-leave 2000;never-leave 4000;lanes 10000;resends 40000}"
modes=(svg check shiviz)

echo "# process timeline: cost on large traces"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "- nproc: $(nproc)"
echo "- load: $(uptime | sed 's/.*load average: *//')"
echo "- limits: ${limit} s per run, address space $((mem >> 20)) MiB"
for b in "${bins[@]}"; do
  echo "- BIN \`$b\`: $(stat -c %s "$b") bytes, sha256 $(sha256sum "$b" | cut -c1-16)"
done
echo

# Inputs.
declare -A dir size
for in in "${inputs[@]}"; do
  read -r gen arg <<<"$in"
  d="$tmp/in/${gen}-${arg}"
  start=$(date +%s%N)
  scripts/timeline/traces.py "$gen" "$arg" "$d"
  end=$(date +%s%N)
  dir[$in]=$d
  size[$in]=$(cat "$d"/*.jsonl | wc -c)
  printf -- '- generated `%s`: %s bytes in %s s\n' "$in" "${size[$in]}" "$(awk -v n=$((end - start)) 'BEGIN { printf "%.1f", n / 1e9 }')"
done
echo

# One run: prints "cpu_s peak_kb status out_bytes wall_s user_s sys_s" (status: the exit
# code, or stopped, or oom).
measure() { # BIN MODE DIR
  local bin=$1 mode=$2 d=$3 out="$tmp/out" err="$tmp/err" tf="$tmp/time" rc=0
  rm -f "$out" "$err" "$tf"
  local args
  case "$mode" in
    svg) args=(timeline "$d" -o "$out") ;;
    check) args=(timeline --check "$d") ;;
    shiviz) args=(timeline --format shiviz "$d" -o "$out") ;;
  esac
  if [[ $mode == check ]]; then
    /usr/bin/time -f '%e %U %S %M' -o "$tf" timeout -k 10 "$limit" prlimit --as="$mem" "$bin" "${args[@]}" >"$out" 2>"$err" || rc=$?
  else
    /usr/bin/time -f '%e %U %S %M' -o "$tf" timeout -k 10 "$limit" prlimit --as="$mem" "$bin" "${args[@]}" >/dev/null 2>"$err" || rc=$?
  fi
  local wall user sys kb status bytes
  read -r wall user sys kb < <(tail -n 1 "$tf")
  if [[ $rc == 124 ]] || { [[ $rc == 137 ]] && awk -v w="$wall" -v l="$limit" 'BEGIN { exit !(w >= l) }'; }; then
    status=stopped # timeout's TERM (124), or its KILL 10 s later
  elif grep -qi 'memory allocation of .* failed\|out of memory\|cannot allocate memory' "$err"; then
    status=oom
  elif [[ $rc == 137 ]]; then
    status=killed # SIGKILL not from timeout: the kernel's OOM killer?
  else
    status=$rc
  fi
  bytes=$( [[ -f $out ]] && stat -c %s "$out" || echo -)
  rm -f "$out"
  echo "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }') $kb $status $bytes $wall $user $sys"
}

header="| input | size | mode |"
rule="|---|---:|---|"
for b in "${bins[@]}"; do
  header+=" \`$b\` CPU s | peak MB | exit | output bytes |"
  rule+="---:|---:|---|---:|"
done
raw=()
declare -A stopped_at
rows=()
for in in "${inputs[@]}"; do
  read -r gen arg <<<"$in"
  for mode in "${modes[@]}"; do
    row="| $in | $(awk -v b="${size[$in]}" 'BEGIN { if (b >= 1e6) printf "%.1f MB", b / 1e6; else printf "%.0f KB", b / 1e3 }') | $mode |"
    for k in "${!bins[@]}"; do
      b=${bins[$k]}
      if [[ -n ${stopped_at[$k/$gen/$mode]:-} ]]; then
        row+=" > $limit s (skipped) | | stopped on ${stopped_at[$k/$gen/$mode]} | |"
        raw+=("$in	$mode	$b	skipped")
        continue
      fi
      read -r cpu kb status bytes wall user sys < <(measure "$b" "$mode" "${dir[$in]}")
      mb=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')
      case "$status" in
        stopped)
          stopped_at[$k/$gen/$mode]=$in
          row+=" > $limit s (stopped) | $mb | stopped | $bytes |" ;;
        oom) row+=" $cpu | $mb | out of memory | $bytes |" ;;
        killed) row+=" $cpu | $mb | killed (SIGKILL: out of memory?) | $bytes |" ;;
        *) row+=" $cpu | $mb | $status | $bytes |" ;;
      esac
      raw+=("$in	$mode	$b	wall=$wall user=$user sys=$sys peak_kb=$kb exit=$status out=$bytes")
    done
    rows+=("$row")
    # Progress on stderr: the table comes at the end.
    echo "done: $in $mode" >&2
  done
done

echo "$header"
echo "$rule"
printf '%s\n' "${rows[@]}"
echo
echo "Raw measurements (wall, user and sys in s; peak RSS in KB; output in bytes):"
echo
echo '```'
printf '%s\n' "${raw[@]}"
echo '```'
