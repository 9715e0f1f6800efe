#!/usr/bin/env bash
# S3 connector figures against the in-process S3 server (s3s-fs) on 127.0.0.1:
#   - peak RSS and throughput of `evidence-agent collect` streaming one GIB-sized object (default 2)
#   - keys listed per second over KEYS keys (default 100000; no rule matches, nothing is fetched)
# Uses GNU time (`apt-get install -y time`). PROFILE=dev for a quick debug-build run.
#   bench/s3.sh [GIB] [KEYS]
set -euo pipefail
cd "$(dirname "$0")/.."
GIB=${1:-2}
KEYS=${2:-100000}
PROFILE=${PROFILE:-release}
command -v /usr/bin/time >/dev/null || { echo "GNU time is required (apt-get install -y time)" >&2; exit 2; }
cargo build --profile "$PROFILE" --quiet --bin evidence-agent
cargo run --profile "$PROFILE" --quiet -p evidence-tests --example s3_bench -- large "$GIB"
cargo run --profile "$PROFILE" --quiet -p evidence-tests --example s3_bench -- listing "$KEYS"
