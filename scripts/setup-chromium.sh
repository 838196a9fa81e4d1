#!/usr/bin/env bash
# Headless Chromium for tests/timeline.rs (a real browser renders a Lab 1 figure to PNG).
# No-op where a chromium is already installed; on Debian, as root, installs the package.
set -euo pipefail
for c in chromium chromium-browser google-chrome; do
  command -v "$c" >/dev/null 2>&1 && exit 0
done
if [ "$(id -u)" != 0 ]; then
  echo "setup-chromium: no chromium, and not root: install it (Debian: apt-get install chromium)" >&2
  exit 1
fi
echo "setup-chromium: installing chromium from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
