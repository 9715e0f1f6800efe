#!/usr/bin/env bash
# Seal and verify throughput of evidence bundles, next to `sha256sum` over the same files, with
# peak memory (RSS). Generates a workspace of SIZE_MB (default 1024): 2,000 small files and three
# large ones. Uses release builds and GNU time. Each figure is the median of RUNS (default 3).
#   bench/bundles.sh [SIZE_MB] [RUNS]
source "$(dirname "$0")/lib.sh"
SIZE_MB=${1:-1024}
RUNS=${2:-3}
python3 bench/make_workspace.py "$WORK/workspace" "$SIZE_MB"
local_config "$WORK"
BYTES=$(find "$WORK/workspace" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d", s}')
find "$WORK/workspace" -type f -exec cat {} + > /dev/null   # warm the page cache

# measure NAME CMD...: run RUNS times, print the median wall time, MB/s and peak RSS.
measure() {
    local name=$1; shift
    local runs="$WORK/runs"
    rm -f "$runs"
    for _ in $(seq "$RUNS"); do
        [ "$name" = seal ] && rm -rf "$WORK/evidence"
        timed "$runs" "$@"
    done
    cut -d' ' -f1 "$runs" > "$runs.wall"; cut -d' ' -f2 "$runs" > "$runs.rss"
    awk -v n="$name" -v w="$(median "$runs.wall")" -v r="$(median "$runs.rss")" -v b="$BYTES" \
        'BEGIN { printf "%-28s %8.2f s %9.1f MB/s %9.1f MiB peak RSS\n", n, w, b/1e6/(w>0?w:0.001), r/1024 }'
}

echo "workspace: $BYTES bytes in $(find "$WORK/workspace" -type f | wc -l) files; median of $RUNS runs"
measure seal "$BIN/evidence-agent" collect --quiet --config "$WORK/agent.toml"
measure "verify (evidence-auditor)" "$BIN/evidence-auditor" verify "$WORK/evidence"
measure "sha256sum (same files)" sh -c "find '$WORK/workspace' -type f -print0 | xargs -0 sha256sum"
echo "bundle: $(stat -c %s "$WORK/evidence/run-000001.zip") bytes"
