#!/usr/bin/env bash
# Many small items: `evidence-agent collect` of FILES (default 12,000) text files of a few bytes
# each into one bundle, in items per second, next to `sha256sum` of the same files (the
# reference: reading and hashing them, nothing more); goal ≥ 10,000 items/s. Median of RUNS
# (default 3), page cache warm, release build; peak RSS of the seal.
#   bench/small_items.sh [FILES] [RUNS]
source "$(dirname "$0")/lib.sh"
FILES=${1:-12000}
RUNS=${2:-3}
python3 bench/make_files.py "$WORK/workspace" "$FILES" 12 text > /dev/null
local_config "$WORK"
find "$WORK/workspace" -type f -exec cat {} + > /dev/null
for _ in $(seq "$RUNS"); do
    rm -rf "$WORK/evidence"
    timed "$WORK/seal" "$BIN/evidence-agent" collect --quiet --config "$WORK/agent.toml"
    timed "$WORK/sum" sh -c "find '$WORK/workspace' -type f -print0 | xargs -0 sha256sum"
done
cut -d' ' -f1 "$WORK/seal" > "$WORK/seal.wall"; cut -d' ' -f1 "$WORK/sum" > "$WORK/sum.wall"
cut -d' ' -f2 "$WORK/seal" > "$WORK/seal.rss"
SEAL=$(median "$WORK/seal.wall"); SUM=$(median "$WORK/sum.wall")
echo "seal $FILES small files, median of $RUNS: seal ${SEAL} s, sha256sum ${SUM} s, seal peak RSS $(( $(median "$WORK/seal.rss") / 1024 )) MiB"
ratio items "$(awk -v n="$FILES" -v t="$SEAL" 'BEGIN {print n / t}')" "$(awk -v n="$FILES" -v t="$SUM" 'BEGIN {print n / (t + 0.001)}')" items/s
echo "goal: 10000 items/s"
