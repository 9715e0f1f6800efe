#!/usr/bin/env bash
# MLflow connector figure: runs collected per second from a real `mlflow server` on 127.0.0.1
# (from the test virtual environment, see scripts/test), RUNS runs (default 200), each with 3
# metric histories of 20 points, 2 params and one model card artifact.
# Uses GNU time (`apt-get install -y time`). PROFILE=dev for a quick debug-build run.
#   bench/mlflow.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-200}
PROFILE=${PROFILE:-release}
export EVIDENCE_TEST_VENV=${EVIDENCE_TEST_VENV:-$PWD/.venv}
command -v /usr/bin/time >/dev/null || { echo "GNU time is required (apt-get install -y time)" >&2; exit 2; }
cargo build --profile "$PROFILE" --quiet --bin evidence-agent
cargo run --profile "$PROFILE" --quiet -p evidence-tests --example mlflow_bench -- "$RUNS"
