#!/usr/bin/env bash
# The Debian tools some tests drive (no-op where they are already installed):
#   - strace: tests/loopback.rs pauses a process between its binds to make a start-up race certain;
#   - chromium: tests/timeline.rs has a real browser render a Lab 1 figure to PNG.
set -euo pipefail
need=()
command -v strace >/dev/null 2>&1 || need+=(strace)
have_browser=
for c in chromium chromium-browser google-chrome; do
  command -v "$c" >/dev/null 2>&1 && have_browser=1
done
[ -n "$have_browser" ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "setup-tools: missing ${need[*]}, and not root: install them (Debian: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "setup-tools: installing ${need[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
