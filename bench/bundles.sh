#!/usr/bin/env bash
# Seal and verify throughput of evidence bundles, next to `sha256sum` over the same files, with
# peak memory (RSS). Generates a workspace of SIZE_MB (default 1024): 2,000 small files and three
# large ones. Uses release builds and GNU time. Each figure is the median of RUNS (default 3).
#   bench/bundles.sh [SIZE_MB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-1024}
RUNS=${2:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
command -v /usr/bin/time >/dev/null || { echo "GNU time is required (apt-get install time)" >&2; exit 2; }

cargo build --release --quiet --bin evidence-agent --bin evidence-auditor
python3 bench/make_workspace.py "$WORK/workspace" "$SIZE_MB"
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
BYTES=$(find "$WORK/workspace" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d", s}')
find "$WORK/workspace" -type f -exec cat {} + > /dev/null   # warm the page cache

# measure NAME CMD...: run RUNS times, print the median wall time, MB/s and peak RSS.
measure() {
    local name=$1; shift
    local walls=() rsss=()
    for _ in $(seq "$RUNS"); do
        [ "$name" = seal ] && rm -rf "$WORK/evidence"
        /usr/bin/time -f "%e %M" -o "$WORK/t" "$@" > /dev/null 2>&1
        read -r wall rss < "$WORK/t"
        walls+=("$wall"); rsss+=("$rss")
    done
    local wall rss
    wall=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    rss=$(printf '%s\n' "${rsss[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    awk -v n="$name" -v w="$wall" -v r="$rss" -v b="$BYTES" \
        'BEGIN { printf "%-28s %8.2f s %9.1f MB/s %9.1f MiB peak RSS\n", n, w, b/1e6/(w>0?w:0.001), r/1024 }'
}

echo "workspace: $BYTES bytes in $(find "$WORK/workspace" -type f | wc -l) files; median of $RUNS runs"
measure seal "${CARGO_TARGET_DIR:-target}"/release/evidence-agent collect --quiet --config "$WORK/agent.toml"
measure "verify (evidence-auditor)" "${CARGO_TARGET_DIR:-target}"/release/evidence-auditor verify "$WORK/evidence"
measure "sha256sum (same files)" sh -c "find '$WORK/workspace' -type f -print0 | xargs -0 sha256sum"
echo "bundle: $(stat -c %s "$WORK/evidence/run-000001.zip") bytes"
