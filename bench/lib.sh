# Shared by the bench scripts: release build, GNU time, median of runs, ratio printing.
# Sourced, not run. Sets BIN (release binaries) and WORK (a temporary directory removed on exit).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v /usr/bin/time >/dev/null || { echo "GNU time is required (apt-get install time)" >&2; exit 2; }
cargo build --release --quiet --bin evidence-agent --bin evidence-auditor
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
WORK=$(mktemp -d "${BENCH_TMP:-/var/tmp}/evidence-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# median FILE: the median of the numbers in FILE, one per line.
median() { sort -g "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# timed OUT CMD...: run CMD under GNU time, appending "wall rss_kib" to OUT; output discarded.
timed() {
    local out=$1; shift
    /usr/bin/time -f "%e %M" -a -o "$out" "$@" > /dev/null 2> "$WORK/stderr" || {
        echo "failed: $*" >&2; cat "$WORK/stderr" >&2; exit 1; }
}

# local_config DIR: an agent config collecting DIR/workspace into DIR/evidence.
local_config() {
    cat > "$1/agent.toml" <<TOML
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
}

# ratio NAME OURS REF UNIT: print ours, the reference and ours / reference.
ratio() {
    awk -v n="$1" -v o="$2" -v r="$3" -v u="$4" \
        'BEGIN { printf "%-10s ours %10.1f %s   reference %10.1f %s   ratio %.2fx\n", n, o, u, r, u, (r > 0 ? o / r : 0) }'
}
