#!/usr/bin/env bash
# Ingest benchmark: generate a 1,000,000-item archive (200 bundles × 5,000 tiny items) with the
# real archive writer, then time `evidence-auditor ingest` and the freeze-and-draw of a 200-item
# sample, reporting wall time and peak memory (GNU time). Generated data stays outside the
# repository, in a temporary directory (kept between runs when BENCH_DIR is given).
#
#   bench/ingest.sh                 # 200 × 5,000 items
#   BUNDLES=10 ITEMS=1000 bench/ingest.sh
#
# 5,000 items per bundle: the figures in bench/README.md were measured with it since November.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
bundles="${BUNDLES:-200}"
items="${ITEMS:-5000}"
dir="${BENCH_DIR:-$(mktemp -d)}"
archive="$dir/archive-$bundles-$items"
engagement="$dir/engagement.sqlite"
if [ ! -x /usr/bin/time ]; then
    echo "bench/ingest.sh needs GNU time (/usr/bin/time): apt-get install -y time" >&2
    exit 2
fi

cd "$repo"
cargo build --release --quiet -p evidence-auditor --bin evidence-auditor --example bench_archive
target="${CARGO_TARGET_DIR:-$repo/target}/release"
auditor="$target/evidence-auditor"

if [ ! -e "$archive/run-$(printf %06d "$bundles").zip" ]; then
    rm -rf "$archive"
    staging="$dir"
    [ -d /dev/shm ] && staging="$(mktemp -d /dev/shm/bench-staging.XXXXXX)"
    echo "generating $bundles × $items items into $archive"
    BENCH_STAGING="$staging" /usr/bin/time -f "generate: %e s, peak %M KiB" \
        "$target/examples/bench_archive" "$archive" "$bundles" "$items"
    [ "$staging" != "$dir" ] && rm -rf "$staging"
fi
du -sh "$archive"

measure() { # label, command...
    local label="$1"; shift
    /usr/bin/time -v "$@" > "$dir/$label.out" 2> "$dir/$label.time" || {
        cat "$dir/$label.out" "$dir/$label.time" >&2; exit 1; }
    local wall mem
    wall="$(grep 'Elapsed (wall clock)' "$dir/$label.time" | awk '{print $NF}')"
    mem="$(grep 'Maximum resident set size' "$dir/$label.time" | awk '{print $NF}')"
    printf '%-8s wall %-10s peak RSS %6d MiB\n' "$label" "$wall" "$((mem / 1024))"
}

rm -f "$engagement" "$engagement-wal" "$engagement-shm" "$dir/bench.secret"
export EVIDENCE_ENGAGEMENT="$engagement"
measure ingest "$auditor" ingest "$archive"
measure verify "$auditor" verify "$archive"
seconds() { # "m:ss.ss" or "h:mm:ss" from GNU time -v → seconds
    grep 'Elapsed (wall clock)' "$dir/$1.time" | awk '{print $NF}' |
        awk -F: '{s=0; for (i=1; i<=NF; i++) s=s*60+$i; print s}'
}
awk -v i="$(seconds ingest)" -v v="$(seconds verify)" -v n="$((bundles * items))" \
    'BEGIN { printf "ingest    ours %.1f s (%d items/s)   reference: verify alone %.1f s   ratio %.2fx   goal < 20 s at 1,000,000 items\n", i, n / i, v, i / v }'
"$auditor" audit add bench --type initial > /dev/null
"$auditor" population define everything --any-period > /dev/null
"$auditor" seed commit everything --secret-file "$dir/bench.secret" --generate > /dev/null
measure freeze "$auditor" population freeze everything
measure plan "$auditor" population plan everything --tolerable 0.015
"$auditor" seed reveal everything --secret-file "$dir/bench.secret" > /dev/null
measure draw "$auditor" sample draw everything
grep -E '^Population|^Sample size|^Sample of' "$dir"/{freeze,plan,draw}.out
ls -l "$engagement" | awk '{printf "engagement file: %d MiB\n", $5 / 1048576}'
echo "data kept in $dir"
