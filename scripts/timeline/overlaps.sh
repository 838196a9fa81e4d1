#!/usr/bin/env bash
# Counts, in headless Chromium, the texts of a `process timeline` figure that meet another
# text, a marker, an arrowhead or a CS bar (and arrowheads that meet a CS bar), and the texts
# that run off the figure, with every box as the browser laid it out (tests/timeline.rs asserts 0 on the figures in docs/).
#   scripts/timeline/overlaps.sh FIGURE.svg...     prints per figure: OVERLAPS n, PROBE, ...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
chromium="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[[ -n $chromium ]] || { echo "error: no chromium (scripts/setup/setup-tools.sh installs it)" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for f in "$@"; do
    {
        printf '<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0">\n'
        # The figure inline (its XML declaration, if any, dropped).
        grep -v '^<?xml' "$f"
        printf '<pre id="out">not run</pre><script>\n'
        cat "$here/overlaps.js"
        printf '</script></body></html>\n'
    } > "$tmp/page.html"
    dom="$("$chromium" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" \
        --virtual-time-budget=5000 --dump-dom "file://$tmp/page.html" 2>/dev/null)"
    echo "== $f"
    # The <pre>'s text, unescaped.
    awk '/<pre id="out">/ { on = 1; sub(/.*<pre id="out">/, "") } on { stop = sub(/<\/pre>.*/, ""); print; if (stop) exit }' <<<"$dom" |
        sed -e 's/&quot;/"/g' -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&amp;/\&/g'
done
