#!/usr/bin/env bash
# Seal throughput against the disk: `evidence-agent collect` of 1,024 incompressible 1 MiB
# files (1 GiB) into one bundle, next to `dd bs=1M count=1024 conv=fsync` writing the same amount
# to the same file system; ratio = seal MB/s / dd MB/s (goal ≥ 0.5). Median of RUNS (default 3),
# page cache warm, release build; peak RSS of the seal.
#   bench/seal.sh [FILES] [FILE_KIB] [RUNS]
source "$(dirname "$0")/lib.sh"
FILES=${1:-1024}
KIB=${2:-1024}
RUNS=${3:-3}
python3 bench/make_files.py "$WORK/workspace" "$FILES" $((KIB * 1024)) random > /dev/null
local_config "$WORK"
BYTES=$((FILES * KIB * 1024))
cat "$WORK"/workspace/*/* > /dev/null
for _ in $(seq "$RUNS"); do
    rm -rf "$WORK/evidence" "$WORK/.evidence-agent"
    timed "$WORK/seal" "$BIN/evidence-agent" collect --quiet --config "$WORK/agent.toml"
    timed "$WORK/dd" dd if=/dev/zero of="$WORK/dd.out" bs=1M count=$((BYTES / 1048576)) conv=fsync
    rm -f "$WORK/dd.out"
done
cut -d' ' -f1 "$WORK/seal" > "$WORK/seal.wall"; cut -d' ' -f1 "$WORK/dd" > "$WORK/dd.wall"
cut -d' ' -f2 "$WORK/seal" > "$WORK/seal.rss"
SEAL=$(median "$WORK/seal.wall"); DD=$(median "$WORK/dd.wall")
echo "seal $FILES × $KIB KiB incompressible ($BYTES bytes), median of $RUNS: seal ${SEAL} s, dd ${DD} s, seal peak RSS $(( $(median "$WORK/seal.rss") / 1024 )) MiB"
ratio seal "$(awk -v b="$BYTES" -v t="$SEAL" 'BEGIN {print b / 1e6 / t}')" "$(awk -v b="$BYTES" -v t="$DD" 'BEGIN {print b / 1e6 / t}')" MB/s
