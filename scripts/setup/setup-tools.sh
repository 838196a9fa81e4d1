#!/usr/bin/env bash
# The tools some tests drive (no-op where they are already installed):
#   - strace (Debian): tests/loopback.rs pauses a process between its binds to make a start-up
#     race certain.
#   - chromium (Debian): tests/timeline.rs has a real browser render a Lab 1 figure to PNG.
#   - prometheus (Debian, with promtool): tests/metrics.rs has a real Prometheus server scrape
#     a mesh and lints every mode's exposition; the compose metrics image is built from it.
#   - kubernetes-validate (PyPI): tests/kubernetes.rs validates deploy/kubernetes/ against a
#     current Kubernetes release's schemas. Installed into its own virtualenv
#     ($PEERLAB_TOOLS, /opt/peerlab-tools by default; Debian's Python refuses system-wide pip
#     installs), where the test looks for it when it is not on PATH.
set -euo pipefail
KUBERNETES_VALIDATE_VERSION=1.37.0
tools="${PEERLAB_TOOLS:-/opt/peerlab-tools}"

need=()
command -v strace >/dev/null 2>&1 || need+=(strace)
have_browser=
for c in chromium chromium-browser google-chrome; do
    command -v "$c" >/dev/null 2>&1 && have_browser=1
done
[ -n "$have_browser" ] || need+=(chromium)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)
have_validator() {
    command -v kubernetes-validate >/dev/null 2>&1 || [ -x "$tools/bin/kubernetes-validate" ]
}
if ! have_validator; then
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
fi

if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup-tools: missing ${need[*]}, and not root: install them (Debian: apt-get install ${need[*]})" >&2
        exit 1
    fi
    echo "setup-tools: installing ${need[*]} from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! have_validator; then
    echo "setup-tools: installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION from PyPI into $tools" >&2
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    "$tools/bin/kubernetes-validate" --version >/dev/null
fi
