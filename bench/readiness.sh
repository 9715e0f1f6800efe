#!/usr/bin/env bash
# Readiness benchmark: an engagement holding 1,000,000 items (the shipped example archive
# ingested, then synthetic items added with bench/readiness_fill.py in the shape ingest writes),
# then `evidence-auditor readiness -e` with the JSON and the HTML page, timed with GNU time
# (wall, peak RSS). Goal: under 5 s and flat memory (the items are aggregated in SQLite, one
# group per kind, source, tags and month; nothing per item is held).
#
#   bench/readiness.sh                  # 1,000,000 items, release build
#   ITEMS=100000 PROFILE=debug bench/readiness.sh
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
items="${ITEMS:-1000000}"
profile="${PROFILE:-release}"
dir="${BENCH_DIR:-$(mktemp -d)}"
engagement="$dir/readiness-$items.engagement"
if [ ! -x /usr/bin/time ]; then
    echo "bench/readiness.sh needs GNU time (/usr/bin/time): apt-get install -y time" >&2
    exit 2
fi
cd "$repo"
if [ "$profile" = release ]; then
    cargo build --release --quiet --bin evidence-agent --bin evidence-auditor
else
    cargo build --quiet --bin evidence-agent --bin evidence-auditor
fi
target="${CARGO_TARGET_DIR:-$repo/target}/$profile"

if [ ! -e "$engagement" ]; then
    work="$dir/example"
    rm -rf "$work" && mkdir -p "$work"
    cp -r examples/workspace "$work/workspace" && cp examples/agent.toml "$work/agent.toml"
    SOURCE_DATE_EPOCH=1798761600 "$target/evidence-agent" collect --config "$work/agent.toml" > /dev/null
    "$target/evidence-auditor" ingest "$work/evidence" -e "$engagement" > /dev/null
    echo "adding $items synthetic items to $engagement"
    /usr/bin/time -f "fill: %e s" python3 bench/readiness_fill.py "$engagement" "$items"
fi

measure() { # label, command...
    local label="$1"; shift
    /usr/bin/time -v "$@" > "$dir/$label.out" 2> "$dir/$label.time" || {
        cat "$dir/$label.out" "$dir/$label.time" >&2; exit 1; }
    local wall mem
    wall="$(grep 'Elapsed (wall clock)' "$dir/$label.time" | awk '{print $NF}')"
    mem="$(grep 'Maximum resident set size' "$dir/$label.time" | awk '{print $NF}')"
    printf '%-10s wall %-10s peak RSS %6d MiB\n' "$label" "$wall" "$((mem / 1024))"
}

measure json "$target/evidence-auditor" readiness -e "$engagement" --as-of 2027-01-01 --json
measure page "$target/evidence-auditor" readiness -e "$engagement" --as-of 2027-01-01 \
    --html "$dir/readiness.html" --xlsx "$dir/readiness.xlsx"
measure compare "$target/evidence-auditor" readiness -e "$engagement" --as-of 2027-01-01 \
    --compare-as-of 2026-07-01 --json
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('counts', r['counts'])" "$dir/json.out"
echo "data kept in $dir"
