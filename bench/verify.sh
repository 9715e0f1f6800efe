#!/usr/bin/env bash
# Verify throughput against one core's SHA-256: `evidence-auditor verify` of an archive holding
# 1,024 incompressible 1 MiB files (1 GiB, sealed by the agent first), next to
# `openssl speed -evp sha256` on 1 MiB blocks (one core); ratio = verify MB/s / openssl MB/s
# (goal ≥ 1.5, which only both cores reach). Median of RUNS (default 3), page cache warm,
# release build; peak RSS of verify.
#   bench/verify.sh [FILES] [FILE_KIB] [RUNS]
source "$(dirname "$0")/lib.sh"
FILES=${1:-1024}
KIB=${2:-1024}
RUNS=${3:-3}
python3 bench/make_files.py "$WORK/workspace" "$FILES" $((KIB * 1024)) random > /dev/null
local_config "$WORK"
"$BIN/evidence-agent" collect --quiet --config "$WORK/agent.toml" > /dev/null
BYTES=$(stat -c %s "$WORK"/evidence/run-000001.zip)
cat "$WORK"/evidence/run-000001.zip > /dev/null
for _ in $(seq "$RUNS"); do
    timed "$WORK/verify" "$BIN/evidence-auditor" verify "$WORK/evidence"
done
cut -d' ' -f1 "$WORK/verify" > "$WORK/verify.wall"; cut -d' ' -f2 "$WORK/verify" > "$WORK/verify.rss"
VERIFY=$(median "$WORK/verify.wall")
OPENSSL_KB=$(openssl speed -evp sha256 -bytes 1048576 -seconds 3 2>/dev/null | awk '/^sha256/ {sub(/k$/, "", $2); print $2}')
echo "verify a $BYTES-byte bundle ($FILES × $KIB KiB incompressible), median of $RUNS: ${VERIFY} s, peak RSS $(( $(median "$WORK/verify.rss") / 1024 )) MiB; $(nproc) cores"
ratio verify "$(awk -v b="$BYTES" -v t="$VERIFY" 'BEGIN {print b / 1e6 / t}')" "$(awk -v k="$OPENSSL_KB" 'BEGIN {print k / 1000}')" MB/s
