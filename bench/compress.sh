#!/usr/bin/env bash
# Bundle size of a text-heavy workspace (training logs, JSON metric histories, CI logs):
# the payload's own size (what a bundle of stored entries takes) against the bundle's, and
# `gzip -6` of the same files as the reference of what deflate can do; seal wall time and peak
# RSS. Release builds unless PROFILE=debug.
#   bench/compress.sh [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-256}
PROFILE=${PROFILE:-release}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
command -v /usr/bin/time >/dev/null || { echo "GNU time is required (apt-get install time)" >&2; exit 2; }

if [ "$PROFILE" = release ]; then
    cargo build --release --quiet --bin evidence-agent --bin evidence-auditor
else
    cargo build --quiet --bin evidence-agent --bin evidence-auditor
fi
BIN=${CARGO_TARGET_DIR:-target}/$PROFILE
python3 bench/make_text_workspace.py "$WORK/workspace" "$SIZE_MB"
cat > "$WORK/agent.toml" <<TOML
[archive]
path = "evidence"
origin = "bench.example/ai"
[[source]]
type = "local"
name = "bench"
path = "workspace"
[[source.rule]]
glob = "**"
kind = "training_run"
TOML
PAYLOAD=$(find "$WORK/workspace" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d", s}')
/usr/bin/time -f "%e %M" -o "$WORK/t" "$BIN/evidence-agent" collect --config "$WORK/agent.toml" > /dev/null 2>&1
read -r wall rss < "$WORK/t"
BUNDLE=$(stat -c %s "$WORK"/evidence/run-000001.zip)
GZIP=$(find "$WORK/workspace" -type f -print0 | sort -z | xargs -0 cat | gzip -6 | wc -c)
"$BIN/evidence-auditor" verify "$WORK/evidence" > /dev/null
echo "text workspace: $PAYLOAD bytes of payload ($SIZE_MB MiB, $PROFILE build)"
printf "bundle:          %12d bytes  (payload / bundle = %.2fx)\n" "$BUNDLE" "$(echo "$PAYLOAD / $BUNDLE" | bc -l)"
printf "gzip -6 of all:  %12d bytes  (payload / gzip   = %.2fx)\n" "$GZIP" "$(echo "$PAYLOAD / $GZIP" | bc -l)"
printf "bundle / gzip:   %.3f\n" "$(echo "$BUNDLE / $GZIP" | bc -l)"
echo "seal: ${wall} s wall, $((rss / 1024)) MiB peak RSS; the archive verifies"
