#!/usr/bin/env bash
# GitHub connector figures against a local fake GitHub (loopback only, bounded):
#   1. first run over an organisation of REPOS repositories with PULLS merged pull requests each:
#      quota points used (GraphQL cost as the fake reports it in rateLimit, plus REST requests)
#      with the default `api = "auto"`, the reference (the same first run with `api = "rest"`,
#      every request one point), and their ratio; requests sent and wall time;
#   2. second run with nothing changed: requests (all must be conditional and answered 304) and
#      wall time as a share of the first run;
#   3. peak memory (RSS) of the agent while it collects one training-run artifact of
#      ARTIFACT_MB megabytes, streamed from a redirect target.
# Debug builds by default (set PROFILE=release for release builds). Needs GNU time.
#   bench/github.sh [REPOS] [PULLS] [ARTIFACT_MB]      (defaults: 100 100 2048)
set -euo pipefail
cd "$(dirname "$0")/.."
REPOS=${1:-100}
PULLS=${2:-100}
ARTIFACT_MB=${3:-2048}
PROFILE=${PROFILE:-debug}
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
MOCK_PID=
cleanup() {
    [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
command -v /usr/bin/time >/dev/null || { echo "GNU time is required (apt-get install time)" >&2; exit 2; }

FLAGS=()
[ "$PROFILE" = release ] && FLAGS=(--release)
cargo build "${FLAGS[@]}" --quiet --bin evidence-agent
cargo build "${FLAGS[@]}" --quiet -p evidence-connectors --example github-mock
AGENT="$TARGET/$PROFILE/evidence-agent"
MOCK="$TARGET/$PROFILE/examples/github-mock"

# start_mock REPOS PULLS ARTIFACT_BYTES: start the fake and wait for its address.
start_mock() {
    rm -f "$WORK/addr"
    "$MOCK" "$1" "$2" "$3" "$WORK/addr" 2> "$WORK/mock.log" &
    MOCK_PID=$!
    for _ in $(seq 600); do
        [ -s "$WORK/addr" ] && break
        sleep 0.5
    done
    [ -s "$WORK/addr" ] || { echo "the fake GitHub did not start" >&2; cat "$WORK/mock.log" >&2; exit 2; }
    API=$(cat "$WORK/addr")
}
stop_mock() { kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; MOCK_PID=; }
stat() { curl -s "$API/__stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
# points: REST requests plus the GraphQL cost the fake reported, so far.
points() { curl -s "$API/__stats" | python3 -c "import json,sys; s=json.load(sys.stdin); print(s['requests'] - s['graphql_requests'] + s['graphql_cost'])"; }

# collect NAME CONFIG: run the agent under GNU time; sets WALL (s) and RSS (kB).
collect() {
    local name=$1 config=$2
    GITHUB_TOKEN=bench-token /usr/bin/time -v -o "$WORK/$name.time" \
        "$AGENT" --quiet collect --json --config "$config" > "$WORK/$name.json" 2> "$WORK/$name.err" || {
        echo "$name: the agent failed" >&2; tail -20 "$WORK/$name.err" >&2; exit 1; }
    WALL=$(python3 - "$WORK/$name.time" <<'PY'
import sys
for line in open(sys.argv[1]):
    if "Elapsed (wall clock)" in line:
        parts = line.rsplit(" ", 1)[1].strip().split(":")
        secs = 0.0
        for p in parts:
            secs = secs * 60 + float(p)
        print(f"{secs:.2f}")
PY
)
    RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$name.time")
}

echo "==> fake organisation: $REPOS repositories x $PULLS merged pull requests ($PROFILE build)"
start_mock "$REPOS" "$PULLS" 0
# org_config DIR API: an agent configuration collecting the fake organisation through API.
org_config() {
    mkdir -p "$WORK/$1"
    cat > "$WORK/$1/agent.toml" <<TOML
[archive]
path = "evidence"
origin = "bench.example/github"
[[source]]
type = "github"
name = "github"
api_url = "$API"
org = "bench"
token_env = "GITHUB_TOKEN"
api = "$2"
[[source.card]]
path = "MODEL_CARD.md"
TOML
}
org_config rest rest
org_config org auto

# The reference: the same first run through REST only (every request one point).
P0=$(points)
collect reference "$WORK/rest/agent.toml"
REF_POINTS=$(( $(points) - P0 )); REF_WALL=$WALL
REF_ITEMS=$(python3 -c "import json; print(json.load(open('$WORK/reference.json'))['items'])")

R0=$(stat requests); P0=$(points); G0=$(stat graphql_requests); GC0=$(stat graphql_cost)
collect first "$WORK/org/agent.toml"
R1=$(stat requests); FIRST_WALL=$WALL; FIRST_RSS=$RSS
FIRST_REQ=$((R1 - R0)); FIRST_POINTS=$(( $(points) - P0 ))
FIRST_GQL=$(( $(stat graphql_requests) - G0 )); FIRST_COST=$(( $(stat graphql_cost) - GC0 ))
ITEMS=$(python3 -c "import json; print(json.load(open('$WORK/first.json'))['items'])")
NM0=$(stat not_modified); C0=$(stat conditional)
collect second "$WORK/org/agent.toml"
R2=$(stat requests); NM1=$(stat not_modified); C1=$(stat conditional)
SECOND_WALL=$WALL
SECOND_REQ=$((R2 - R1)); SECOND_304=$((NM1 - NM0)); SECOND_COND=$((C1 - C0))
ITEMS2=$(python3 -c "import json; print(json.load(open('$WORK/second.json'))['items'])")
stop_mock

SHARE=$(python3 -c "print(f'{100*$SECOND_WALL/$FIRST_WALL:.1f}')")
RATIO=$(python3 -c "print(f'{$FIRST_POINTS/$REF_POINTS:.4f}')")
echo
echo "GitHub connector, $PROFILE build, $(nproc) cores"
echo "  first-run quota: ours $FIRST_POINTS points (GraphQL cost $FIRST_COST over $FIRST_GQL queries + $((FIRST_REQ - FIRST_GQL)) REST requests), reference $REF_POINTS points (api = \"rest\"), ratio $RATIO; goal <= 1000"
echo "  reference run:   $REF_POINTS requests, ${REF_WALL} s, $REF_ITEMS items sealed"
echo "  first run:   $FIRST_REQ requests, ${FIRST_WALL} s, $ITEMS items sealed, peak RSS $((FIRST_RSS / 1024)) MB"
echo "  second run:  $SECOND_REQ requests ($SECOND_COND conditional, $SECOND_304 answered 304), ${SECOND_WALL} s = ${SHARE}% of the first, $ITEMS2 items"

echo "==> one training run with a ${ARTIFACT_MB} MB artifact"
start_mock 1 1 $((ARTIFACT_MB * 1024 * 1024))
mkdir -p "$WORK/art"
cat > "$WORK/art/agent.toml" <<TOML
[archive]
path = "evidence"
origin = "bench.example/github-artifact"
[[source]]
type = "github"
name = "github"
api_url = "$API"
repos = ["bench/repo-000"]
token_env = "GITHUB_TOKEN"
[source.pulls]
enabled = false
[source.protection]
enabled = false
[source.releases]
enabled = false
[[source.workflow]]
file = "train.yml"
kind = "training_run"
logs = false
# The generated artifact is random bytes, not a zip: sealed unscanned (docs/redaction.md).
[source.redact]
media_types = ["text/*", "application/json"]
TOML
collect artifact "$WORK/art/agent.toml"
ART_WALL=$WALL; ART_RSS=$RSS
ART_ITEMS=$(python3 -c "import json; print(json.load(open('$WORK/artifact.json'))['items'])")
ART_BYTES=$(python3 -c "import json; print(json.load(open('$WORK/artifact.json'))['item_bytes'])")
stop_mock

echo "  artifact:    $ART_ITEMS items, $ART_BYTES bytes in ${ART_WALL} s, peak RSS $((ART_RSS / 1024)) MB"
[ "$ITEMS" -eq "$REF_ITEMS" ] || { echo "FAIL: the GraphQL backfill sealed $ITEMS items, REST $REF_ITEMS" >&2; exit 1; }
if [ "$REPOS" -eq 100 ] && [ "$PULLS" -eq 100 ]; then
    [ "$FIRST_POINTS" -le 1000 ] || { echo "FAIL: the 100 x 100 backfill cost $FIRST_POINTS points (goal <= 1000)" >&2; exit 1; }
fi
[ "$SECOND_REQ" -eq "$SECOND_304" ] || { echo "FAIL: not every second-run request was answered 304" >&2; exit 1; }
python3 -c "import sys; sys.exit(0 if $SECOND_WALL < 0.05 * $FIRST_WALL else 1)" || { echo "FAIL: the second run took 5% or more of the first" >&2; exit 1; }
[ "$ART_RSS" -lt $((100 * 1024)) ] || { echo "FAIL: peak RSS while collecting the artifact is 100 MB or more" >&2; exit 1; }
