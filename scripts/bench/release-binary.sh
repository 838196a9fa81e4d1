#!/usr/bin/env bash
# Builds the release binary the measurements use and prints its path: the static musl build
# (what the image ships) when that target is installed, else the default target's.
set -euo pipefail
cd "$(dirname "$0")/../.."
if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  cargo build --release --quiet --target x86_64-unknown-linux-musl
  echo target/x86_64-unknown-linux-musl/release/process
else
  cargo build --release --quiet
  echo target/release/process
fi
