#!/usr/bin/env bash
# Inspection scale: one task of 1,000 rule × target checks, end to end, on SQLite and PostgreSQL
# side by side, and how fast its report renders.
#
#   bench/inspection.sh                 # ~2 minutes
#   BENCH_RULES=10 BENCH_TARGETS=100 BENCH_REPORT_GETS=30 bench/inspection.sh
#
# Starts nginx (a static page on 127.0.0.1), pageinspect and acmangkut (release build, monitor
# scheduler off), applies one YAML document through `POST /api/v1/inspection/config:apply`:
# BENCH_RULES rules (alternating an HTTP page probe with a [STATUS] condition and a TCP connect)
# × BENCH_TARGETS targets (each a `{{port}}` variable, all pointing at nginx), one task with
# concurrency 64. Then runs the task (`POST …/tasks/{id}/run`) BENCH_RUNS times (2: the second
# run also computes the changes against the first), and measures per run:
#   - wall time from the request to the run's end as the API reports it, and the run's own
#     started→finished time from its row;
#   - the console report page `/inspection/runs/{id}` and the JSON report: BENCH_REPORT_GETS
#     sequential GETs each, p50/p95 of curl's time_total (the page holds every finding).
# Prints a markdown table with the ratio to the targets: 30 s per 1,000 checks, 200 ms per
# report page. BENCH_SKIP_PG=1 skips PostgreSQL.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RULES=${BENCH_RULES:-10}
TARGETS=${BENCH_TARGETS:-100}
RUNS=${BENCH_RUNS:-2}
GETS=${BENCH_REPORT_GETS:-30}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
RUN_TARGET_S=30
PAGE_TARGET_MS=200

need_cmd nginx:nginx-light curl:curl jq:jq psql:postgresql-client python3:python3 bc:bc
build_release
make_workdir insp shared

NGINX_PORT=$(free_port 18380)
serve_ok_page "$NGINX_PORT"
PI_PORT=$(free_port 18381)
start_pageinspect "$PI_PORT"
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# The config-as-code document: RULES rules × TARGETS targets in one task.
python3 - "$RULES" "$TARGETS" "$NGINX_PORT" >"$WORK/inspection.yaml" <<'PY'
import sys
rules, targets, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = ["rules:"]
for i in range(rules):
    if i % 2 == 0:
        out += [f"  - name: page-{i}", "    plugin: page_probe", "    level: high",
                "    suggestion: Check the web server and its upstream.",
                "    params:", "      target: http://127.0.0.1:{{port}}/", "      timeout_ms: 5000",
                "      conditions: ['[STATUS] == 200', '[BODY] == pat(*ok*)']"]
    else:
        out += [f"  - name: tcp-{i}", "    plugin: tcp", "    level: medium",
                "    suggestion: Check that the service listens.",
                "    params:", "      target: 127.0.0.1:{{port}}", "      timeout_ms: 5000"]
out += ["tasks:", "  - name: bench", "    concurrency: 64", "    timeout_seconds: 600", "    rules:"]
out += [f"      - {'page' if i % 2 == 0 else 'tcp'}-{i}" for i in range(rules)]
out += ["    targets:"]
for t in range(targets):
    out += [f"      - name: host-{t:04d}", f"        vars: {{port: '{port}'}}"]
print("\n".join(out))
PY

# p50 and p95 (ms) of N sequential GETs of URL.
time_gets() {
    local url=$1 n=$2 i
    for ((i = 0; i < n; i++)); do
        curl -fsS -o /dev/null -w '%{time_total}\n' --max-time 10 -H "Authorization: Bearer $BENCH_TOKEN" "$url" ||
            die "GET $url failed"
    done | sort -n | awk '{v[NR]=$1*1000} END {p50=v[int((NR+1)*0.5)]; p95=v[int(NR*0.95+0.5)]; printf "%.1f %.1f\n", p50, p95}'
}

bench_backend() {
    local backend=$1 db=$2 port base task run t0 t1 state
    port=$(free_port 18382)
    base="http://127.0.0.1:$port"
    start_acmangkut "$port" "$db" "$PI_PORT" HAS_SCHEDULER__ENABLED=false HAS_INSPECTION__TICK_MS=100
    log "$backend: acmangkut pid $AC_PID on :$port"
    curl -fsS --max-time 120 -H "Authorization: Bearer $BENCH_TOKEN" -H 'Content-Type: application/yaml' \
        --data-binary @"$WORK/inspection.yaml" "$base/api/v1/inspection/config:apply" >"$WORK/apply-$backend.json" ||
        die "$backend: apply failed: $(cat "$WORK/apply-$backend.json")"
    task=$(bench_get "$base/api/v1/inspection/tasks" | jq -er '.[] | select(.name == "bench") | .id')
    for ((r = 1; r <= RUNS; r++)); do
        t0=$(date +%s.%N)
        run=$(curl -fsS --max-time 10 -X POST -H "Authorization: Bearer $BENCH_TOKEN" \
            "$base/api/v1/inspection/tasks/$task/run" | jq -er .id)
        for ((i = 0; i < 1200; i++)); do
            state=$(bench_get "$base/api/v1/inspection/runs/$run" | jq -r .state)
            [[ "$state" == completed || "$state" == timed_out || "$state" == interrupted ]] && break
            sleep 0.05
        done
        t1=$(date +%s.%N)
        bench_get "$base/api/v1/inspection/runs/$run" >"$WORK/run-$backend-$r.json"
        local total passed own wall page json
        total=$(jq -r .total "$WORK/run-$backend-$r.json")
        passed=$(jq -r .passed "$WORK/run-$backend-$r.json")
        own=$(python3 -c 'import json,sys,datetime as d
r=json.load(open(sys.argv[1])); p=lambda s: d.datetime.fromisoformat(s.replace("Z","+00:00"))
print((p(r["finished_at"])-p(r["started_at"])).total_seconds())' "$WORK/run-$backend-$r.json")
        wall=$(echo "$t1 - $t0" | bc -l)
        read -r page_p50 page_p95 <<<"$(time_gets "$base/inspection/runs/$run" "$GETS")"
        read -r json_p50 json_p95 <<<"$(time_gets "$base/api/v1/inspection/runs/$run/report" "$GETS")"
        log "$backend run $r: $state, $passed/$total passed, wall ${wall}s, run ${own}s; page p50 ${page_p50} ms p95 ${page_p95} ms; JSON p50 ${json_p50} ms"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$r" "$state" "$total" "$passed" \
            "$wall" "$own" "$page_p50" "$page_p95" "$json_p50" "$json_p95" >>"$RESULTS"
    done
    stop_pid "$AC_PID"
}

bench_backend sqlite "sqlite://$WORK/has.db"
if [[ "${BENCH_SKIP_PG:-0}" != 1 ]]; then
    PG_DB="has_bench_insp_$RANDOM$RANDOM"
    create_pg_db "$PG_DB"
    bench_backend postgres "$PG_URL/$PG_DB"
fi

echo
echo "Inspection scale: $RULES rules × $TARGETS targets, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| backend | run | state | checks | passed | wall s | run s | vs ${RUN_TARGET_S} s | report page p50 / p95 ms | vs ${PAGE_TARGET_MS} ms | JSON report p50 / p95 ms |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' -v rt="$RUN_TARGET_S" -v pt="$PAGE_TARGET_MS" '{
    printf "| %s | %s | %s | %s | %s | %.2f | %.2f | %.1f× faster | %.1f / %.1f | %.1f× faster | %.1f / %.1f |\n",
        $1, $2, $3, $4, $5, $6, $7, rt / $6, $8, $9, pt / $9, $10, $11 }' "$RESULTS"
