#!/usr/bin/env bash
# Plan executions at scale: BENCH_EXECUTIONS concurrent executions of a BENCH_STEPS-step plan
# (`http` steps against nginx on 127.0.0.1), on SQLite and on PostgreSQL (a fresh database per
# run) side by side, and how fast the page of a BENCH_PAGE_STEPS-step execution renders.
#
#   bench/plans.sh                                       # 100 × 20 steps, a 200-step page
#   BENCH_EXECUTIONS=10 BENCH_PAGE_GETS=10 bench/plans.sh  # docs/performance.md's reduced run
#
# Starts nginx (a static page), pageinspect and acmangkut (release build; monitor scheduler and
# inspection engine off; plans.max_executions = BENCH_EXECUTIONS so one replica drives them all
# at once), applies one config-as-code document through `POST /api/v1/config:apply`: an
# operation `bench.get` (an `http` GET of its `url`, published) and BENCH_EXECUTIONS plans of
# BENCH_STEPS stages of one step each (one active execution per plan, so one plan per
# execution), plus a plan of BENCH_PAGE_STEPS steps (20 stages). Starts every execution at once
# (curl --parallel), waits for their ends and measures:
#   - engine overhead per step: p99 of `has_plan_step_overhead_seconds` (the engine's histogram:
#     dispatch, committed as running, to the outcome committed, minus the action's own time;
#     the p99 read as the upper edge of its bucket) and p99 of the gap between one step's end
#     and the next step's dispatch (from the steps' rows, ms resolution);
#   - that every step is recorded exactly once: each execution succeeded, each step succeeded
#     with one attempt and one `step.succeeded` event, and the histogram counted each once;
#   - the execution page of the BENCH_PAGE_STEPS-step execution: the console's
#     `/executions/{id}` when it answers 200, else (`api` in the table) the API's
#     `GET /api/v1/executions/{id}`: BENCH_PAGE_GETS sequential GETs, p50/p95 of curl's time.
# Prints a markdown table with the ratios target ÷ measured (1 or more: the target is met) for
# 50 ms step overhead p99 and a 200 ms page. BENCH_SKIP_PG=1 skips PostgreSQL.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EXECUTIONS=${BENCH_EXECUTIONS:-100}
STEPS=${BENCH_STEPS:-20}
PAGE_STEPS=${BENCH_PAGE_STEPS:-200}
GETS=${BENCH_PAGE_GETS:-30}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
STEP_TARGET_MS=50
PAGE_TARGET_MS=200

need_cmd nginx:nginx-light curl:curl jq:jq psql:postgresql-client python3:python3
build_release
make_workdir plans shared

NGINX_PORT=$(free_port 18480)
serve_ok_page "$NGINX_PORT"
PI_PORT=$(free_port 18481)
start_pageinspect "$PI_PORT"
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# The config-as-code document: the operation and the plans.
python3 - "$EXECUTIONS" "$STEPS" "$PAGE_STEPS" "$NGINX_PORT" >"$WORK/plans.yaml" <<'PY'
import sys
executions, steps, page_steps, port = map(int, sys.argv[1:])
url = f"http://127.0.0.1:{port}/"
out = ["operations:", "  - status: published", "    operation:", "      code: bench.get",
       "      name: GET a page", "      kind: plan",
       "      parameters: [{name: url, type: url, required: true}]",
       "      do: {action: http, url: '{{ url }}', timeout_ms: 5000}", "plans:"]
def plan(name, stages, per_stage):
    out.append(f"  - name: {name}")
    out.append("    stages:")
    for s in range(stages):
        out.append(f"      - name: s{s:03d}")
        out.append("        steps:")
        for k in range(per_stage):
            out.append(f"          - name: get-{s:03d}-{k:02d}")
            out.append(f"            operation: {{code: bench.get, params: {{url: '{url}'}}}}")
for i in range(executions):
    plan(f"bench-{i:04d}", steps, 1)
plan("bench-page", 20, max(1, page_steps // 20))
print("\n".join(out))
PY

# p50 and p95 (ms) of N sequential GETs of URL.
time_gets() {
    local url=$1 n=$2 i
    for ((i = 0; i < n; i++)); do
        curl -fsS -o /dev/null -w '%{time_total}\n' --max-time 10 \
            -H "Authorization: Bearer $BENCH_TOKEN" "$url" || die "GET $url failed"
    done | sort -n | awk '{v[NR]=$1*1000} END {
        printf "%.1f %.1f\n", v[int((NR+1)*0.5)], v[int(NR*0.95+0.5)] }'
}

# Waits until every execution id of file $2 at base $1 has ended (at most 600 s).
wait_ended() {
    local base=$1 ids=$2 deadline=$((SECONDS + 600)) id state left
    while ((SECONDS < deadline)); do
        left=0
        while read -r id; do
            state=$(bench_get "$base/api/v1/executions/$id" | jq -r .state)
            case "$state" in
            succeeded | failed | rolled_back | aborted) ;;
            *) left=$((left + 1)) ;;
            esac
        done <"$ids"
        ((left == 0)) && return 0
        sleep 0.5
    done
    die "executions still running after 600 s"
}

# Starts the latest version of each plan id of file $2 at once; the execution ids on stdout.
start_all() {
    local base=$1 plans=$2 cfg="$WORK/start.curl" id n=0
    : >"$cfg"
    while read -r id; do
        ((n++ > 0)) && echo next >>"$cfg"
        printf '%s\n' "url = \"$base/api/v1/plans/$id/executions\"" \
            "header = \"Authorization: Bearer $BENCH_TOKEN\"" \
            'header = "Content-Type: application/json"' 'data = "{\"comment\":\"bench\"}"' \
            'write-out = "\n"' >>"$cfg"
    done <"$plans"
    curl -sS --no-progress-meter --parallel --parallel-max 128 --max-time 60 -K "$cfg" |
        jq -r 'select(.id != null) | .id'
}

bench_backend() {
    local backend=$1 db=$2 port base
    port=$(free_port 18482)
    base="http://127.0.0.1:$port"
    # The one config document of every plan is larger than the default body limit (256 KiB;
    # 100 plans of 20 steps is ~0.6 MB): the bench raises it rather than applying in pieces.
    start_acmangkut "$port" "$db" "$PI_PORT" HAS_SCHEDULER__ENABLED=false \
        HAS_INSPECTION__ENABLED=false HAS_PLANS__MAX_EXECUTIONS="$EXECUTIONS" HAS_PLANS__TICK_MS=100 \
        HAS_SERVER__MAX_BODY_BYTES=16777216
    log "$backend: acmangkut pid $AC_PID on :$port"
    curl -fsS --max-time 300 -H "Authorization: Bearer $BENCH_TOKEN" \
        -H 'Content-Type: application/yaml' --data-binary @"$WORK/plans.yaml" \
        "$base/api/v1/config:apply" >"$WORK/apply-$backend.json" ||
        die "$backend: apply failed: $(cat "$WORK/apply-$backend.json")"
    local plans="$WORK/plans-$backend.json"
    bench_get "$base/api/v1/plans" >"$plans"
    jq -r '.[] | select(.name | startswith("bench-0")) | .id' "$plans" >"$WORK/ids-$backend"
    jq -r '.[] | select(.name == "bench-page") | .id' "$plans" >"$WORK/page-plan-$backend"

    local t0 t1
    t0=$(date +%s.%N)
    start_all "$base" "$WORK/ids-$backend" >"$WORK/executions-$backend"
    [[ $(wc -l <"$WORK/executions-$backend") -eq $EXECUTIONS ]] ||
        die "$backend: started $(wc -l <"$WORK/executions-$backend") of $EXECUTIONS executions"
    wait_ended "$base" "$WORK/executions-$backend"
    t1=$(date +%s.%N)
    local id
    : >"$WORK/views-$backend.jsonl"
    while read -r id; do
        bench_get "$base/api/v1/executions/$id" >>"$WORK/views-$backend.jsonl"
        echo >>"$WORK/views-$backend.jsonl"
        bench_get "$base/api/v1/executions/$id/events" |
            jq -c --argjson id "$id" '{id: $id, events: .}' >>"$WORK/events-$backend.jsonl"
    done <"$WORK/executions-$backend"
    curl -fsS --max-time 10 "$base/metrics" >"$WORK/metrics-$backend.txt"

    # Steps recorded once, overhead p99 (histogram) and the step-to-step gap p99 (rows).
    local summary
    summary=$(python3 - "$WORK/views-$backend.jsonl" "$WORK/events-$backend.jsonl" \
        "$WORK/metrics-$backend.txt" "$STEPS" <<'PY'
import json, sys, datetime as d
views = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
events = {e["id"]: e["events"] for e in map(json.loads, open(sys.argv[2]))}
steps = int(sys.argv[4])
t = lambda s: d.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000
succeeded = recorded = twice = 0
gaps = []
for v in views:
    succeeded += v["state"] == "succeeded"
    evs = events[v["id"]]
    evs = evs.get("items", evs) if isinstance(evs, dict) else evs
    done = [e.get("step") for e in evs if e.get("what") == "step.succeeded"]
    for s in v["steps"]:
        n = done.count(s["id"])
        recorded += s["state"] == "succeeded" and s["attempts"] == 1 and n == 1
        twice += n > 1 or s["attempts"] > 1
    rows = sorted(v["steps"], key=lambda s: s["stage"])
    for a, b in zip(rows, rows[1:]):
        if a.get("ended_at") and b.get("started_at"):
            gaps.append(t(b["started_at"]) - t(a["ended_at"]))
gaps.sort()
gap99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))] if gaps else float("nan")
buckets, count = [], 0
for line in open(sys.argv[3]):
    if line.startswith("has_plan_step_overhead_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    elif line.startswith("has_plan_step_overhead_seconds_count"):
        count = int(float(line.split()[-1]))
p99 = next((le for le, c in buckets if count and c >= 0.99 * count), float("nan"))
print(len(views), succeeded, len(views) * steps, recorded, twice, count, p99 * 1000, gap99)
PY
)
    read -r n ok expected recorded twice observed p99_ms gap99_ms <<<"$summary"
    ((recorded == expected && twice == 0)) ||
        log "$backend: WARNING: $recorded of $expected steps recorded once, $twice more than once"

    # The page of a long execution.
    local page_id page_url kind="console"
    page_id=$(start_all "$base" "$WORK/page-plan-$backend")
    echo "$page_id" >"$WORK/page-execution-$backend"
    wait_ended "$base" "$WORK/page-execution-$backend"
    page_url="$base/executions/$page_id"
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
        -H "Authorization: Bearer $BENCH_TOKEN" "$page_url") != 200 ]]; then
        kind="api"
        page_url="$base/api/v1/executions/$page_id"
    fi
    local page_steps
    page_steps=$(bench_get "$base/api/v1/executions/$page_id" | jq '.steps | length')
    read -r page_p50 page_p95 <<<"$(time_gets "$page_url" "$GETS")"
    local wall
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    log "$backend: $ok/$n succeeded in ${wall}s; $recorded/$expected steps recorded once" \
        "($twice twice); overhead p99 <= ${p99_ms} ms ($observed observed);" \
        "gap p99 ${gap99_ms} ms; $kind page ($page_steps steps) p50 ${page_p50} ms" \
        "p95 ${page_p95} ms"
    printf '%s\t' "$backend" "$n" "$ok" "$wall" "$recorded/$expected" "$twice" "$p99_ms" \
        "$gap99_ms" "$kind" "$page_steps" "$page_p50" "$page_p95" >>"$RESULTS"
    printf '%s\n' "$observed" >>"$RESULTS"
    stop_pid "$AC_PID"
}

bench_backend sqlite "sqlite://$WORK/has.db"
if [[ "${BENCH_SKIP_PG:-0}" != 1 ]]; then
    PG_DB="has_bench_plans_$RANDOM$RANDOM"
    create_pg_db "$PG_DB"
    bench_backend postgres "$PG_URL/$PG_DB"
fi

echo
echo "Plan executions: $EXECUTIONS concurrent × $STEPS http steps, a $PAGE_STEPS-step page," \
    "$(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| backend | executions ok | wall s | steps recorded once | twice | overhead p99 ms" \
    "| ${STEP_TARGET_MS} ms ÷ p99 | gap p99 ms | page | page p50 / p95 ms" \
    "| ${PAGE_TARGET_MS} ms ÷ p95 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' -v st="$STEP_TARGET_MS" -v pt="$PAGE_TARGET_MS" '{
    fmt = "| %s | %s/%s | %s | %s | %s | %s | %.2f | %s | %s (%s steps) | %s / %s"
    printf fmt " | %.2f |\n", $1, $3, $2, $4, $5, $6, $7, st / ($7 > 0 ? $7 : 0.001),
        $8, $9, $10, $11, $12, pt / ($12 > 0 ? $12 : 0.001) }' "$RESULTS"
