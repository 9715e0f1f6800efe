#!/usr/bin/env bash
# Collection throughput of the events source over a rotated LiteLLM log, next to `wc -l` (plain
# segments) and `gzip -dc` (compressed segments) on the same files, with peak memory (RSS).
# Generates EVENTS_GB gigabytes of JSON lines (default 0.25; EVENTS_GB=10 for the full run): the
# oldest 256 MB segments gzip -1, the two newest plain. Release build and GNU time.
#   EVENTS_GB=1 bench/events.sh
# Needs about 2.5 × EVENTS_GB × (stripped share, ~0.45) free disk for the archive and staging,
# plus the plain segments; EVENTS_WORK picks the folder (default: the system's temporary one).
set -euo pipefail
cd "$(dirname "$0")/.."
GB=${EVENTS_GB:-0.25}
WORK=$(mktemp -d "${EVENTS_WORK:-${TMPDIR:-/tmp}}/events-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
command -v /usr/bin/time >/dev/null || { echo "GNU time is required (apt-get install time)" >&2; exit 2; }

cargo build --release --quiet --bin evidence-agent
# Eight segments or more, of at most 256 MB.
SEGMENT_MB=$(echo "s = $GB * 1000 / 8; if (s > 256) s = 256; if (s < 1) s = 1; scale = 0; s / 1" | bc -l)
read -r EVENTS BYTES NAMES < <(python3 bench/make_events.py "$WORK/logs" "$GB" "$SEGMENT_MB")
cat > "$WORK/agent.toml" <<TOML
[archive]
path = "evidence"
origin = "bench.example/ai"
[[source]]
type = "events"
name = "llm-proxy"
path = "logs"
shape = "litellm"
TOML
PLAIN=(); GZ=()
for n in $NAMES; do
    case "$n" in *.gz) GZ+=("$WORK/logs/$n") ;; *) PLAIN+=("$WORK/logs/$n") ;; esac
done
cat "$WORK"/logs/* > /dev/null   # warm the page cache

seconds() { # command… → elapsed seconds (wall clock)
    local start end
    start=$(date +%s.%N); "$@" > /dev/null; end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}
WC=$(seconds wc -l "${PLAIN[@]}")
WC_BYTES=$(cat "${PLAIN[@]}" | wc -c)
GZ_S=0; GZ_BYTES=0
if ((${#GZ[@]})); then
    GZ_S=$(seconds sh -c 'gzip -dc "$@" | wc -l' sh "${GZ[@]}")
    GZ_BYTES=$((BYTES - WC_BYTES))
fi

/usr/bin/time -v -o "$WORK/time.txt" ./target/release/evidence-agent -q collect --config "$WORK/agent.toml" > "$WORK/collect.txt" 2> "$WORK/collect.log"
COLLECT=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$WORK/time.txt")
RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
SEALED=$(du -sb "$WORK/evidence" | cut -f1)

mb() { echo "scale=1; $1 / 1000000 / $2" | bc -l; }
echo "events bench: $EVENTS events, $(echo "scale=2; $BYTES / 1000000000" | bc -l) GB of JSON lines (${#PLAIN[@]} plain, ${#GZ[@]} gzip segments), $(nproc) cores"
printf '%-34s %10s %12s %12s\n' "" "seconds" "MB/s" "events/s"
printf '%-34s %10.2f %12s %12s\n' "wc -l (plain segments)" "$WC" "$(mb "$WC_BYTES" "$WC")" "-"
if ((${#GZ[@]})); then
    printf '%-34s %10.2f %12s %12s\n' "gzip -dc | wc -l (gzip segments)" "$GZ_S" "$(mb "$GZ_BYTES" "$GZ_S")" "-"
fi
BASE=$(echo "$WC + $GZ_S" | bc -l)
printf '%-34s %10.2f %12s %12s\n' "both (reading every line)" "$BASE" "$(mb "$BYTES" "$BASE")" "-"
printf '%-34s %10.2f %12s %12.0f\n' "evidence-agent collect" "$COLLECT" "$(mb "$BYTES" "$COLLECT")" "$(echo "$EVENTS / $COLLECT" | bc -l)"
echo
echo "collect takes $(echo "scale=1; $COLLECT / $BASE" | bc -l)× the time of reading the lines; peak RSS $((RSS_KB / 1024)) MiB; archive $((SEALED / 1000000)) MB"
echo
head -5 "$WORK/collect.txt"
