#!/usr/bin/env bash
# Bundle size of a text-heavy workspace (training logs, JSON metric histories, CI logs):
# the payload's own size (what a bundle of stored entries takes) against the bundle's, and
# `gzip -6` of the same files as the reference of what deflate can do; seal wall time and peak
# RSS. Release builds.
#   bench/compress.sh [SIZE_MB]
source "$(dirname "$0")/lib.sh"
SIZE_MB=${1:-256}
python3 bench/make_text_workspace.py "$WORK/workspace" "$SIZE_MB"
local_config "$WORK"
PAYLOAD=$(find "$WORK/workspace" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d", s}')
timed "$WORK/seal" "$BIN/evidence-agent" collect --config "$WORK/agent.toml"
read -r wall rss < "$WORK/seal"
BUNDLE=$(stat -c %s "$WORK"/evidence/run-000001.zip)
GZIP=$(find "$WORK/workspace" -type f -print0 | sort -z | xargs -0 cat | gzip -6 | wc -c)
"$BIN/evidence-auditor" verify "$WORK/evidence" > /dev/null
echo "text workspace: $PAYLOAD bytes of payload ($SIZE_MB MiB, release build)"
awk -v p="$PAYLOAD" -v b="$BUNDLE" -v g="$GZIP" 'BEGIN {
    printf "bundle:          %12d bytes  (payload / bundle = %.2fx)\n", b, p / b
    printf "gzip -6 of all:  %12d bytes  (payload / gzip   = %.2fx)\n", g, p / g
    printf "bundle / gzip:   %.3f\n", b / g }'
echo "seal: ${wall} s wall, $((rss / 1024)) MiB peak RSS; the archive verifies"
