#!/usr/bin/env bash
# pageinspect vs Prometheus' blackbox_exporter: the same http probe of the same local nginx
# page, driven by wrk at equal concurrency, the two sides alternating in one run.
#
#   bench/blackbox.sh                    # ~2 minutes (+ the release build)
#   BENCH_ROUNDS=3 BENCH_DURATION=30 BENCH_CONNECTIONS=64 bench/blackbox.sh
#
# nginx: own config in a temp dir, 127.0.0.1, worker_processes 1, access_log off, static page.
# blackbox_exporter (Debian package prometheus-blackbox-exporter, installed when missing):
#   GET /probe?module=http_2xx&target=http://127.0.0.1:NGINX/ with module http_2xx
#   (prober: http, ip4 only, no fallback). pageinspect (release build, egress guard at its
#   defaults, logs to files only): POST /api/v1/probe {"kind":"http","target":…,"timeout_ms":5000}.
#   Both open a new connection to nginx per probe.
# wrk: -t BENCH_THREADS (2) -c BENCH_CONNECTIONS (32) -d BENCH_DURATION seconds (20, at least 20)
# --latency, each side after a 3 s warm-up, for BENCH_ROUNDS (2) rounds of blackbox_exporter then
# pageinspect, so both see the same drift in the machine's load. Measured per side and round:
# probes/s and p50/p99 latency (wrk), CPU seconds per 1,000 probes (utime+stime delta of the
# exporter/pageinspect process only, from /proc/PID/stat), peak RSS (VmHWM), non-2xx answers,
# and failed probes during the measured run: every answer is read by the same wrk Lua script
# (a blackbox_exporter answer without `probe_success 1`, a pageinspect answer without
# `"success":true`, or a non-200, is a failure), cross-checked for pageinspect with the delta of
# its has_probes_total{result="failure"}. Then the ratios per round.
# BENCH_PAGEINSPECT=/path/to/pageinspect uses that binary and skips the build.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_DURATION:-20}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-2}
((DURATION >= 20)) || die "BENCH_DURATION is $DURATION s; each side runs at least 20 s"
BLACKBOX=${BENCH_BLACKBOX:-/usr/bin/prometheus-blackbox-exporter}

need_cmd nginx:nginx-light curl:curl wrk:wrk
[[ -x "$BLACKBOX" ]] || need_cmd prometheus-blackbox-exporter:prometheus-blackbox-exporter
[[ -x "$BLACKBOX" ]] || BLACKBOX=$(command -v prometheus-blackbox-exporter) ||
    die "prometheus-blackbox-exporter not found"
if [[ -n "${BENCH_PAGEINSPECT:-}" ]]; then
    PAGEINSPECT=$BENCH_PAGEINSPECT
    BENCH_NO_BUILD=1
fi
build_pageinspect

make_workdir blackbox shared

# --- nginx -----------------------------------------------------------------------------------
NGINX_PORT=$(free_port 18289)
serve_ok_page "$NGINX_PORT"
TARGET="http://127.0.0.1:$NGINX_PORT/"

# --- blackbox_exporter -----------------------------------------------------------------------
BB_PORT=$(free_port 19115)
cat >"$WORK/blackbox.yml" <<CONF
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
CONF
"$BLACKBOX" --config.file="$WORK/blackbox.yml" --web.listen-address="127.0.0.1:$BB_PORT" \
    --log.level=warn >"$WORK/blackbox.out" 2>&1 &
BB_PID=$!
PIDS+=("$BB_PID")
wait_http "http://127.0.0.1:$BB_PORT/-/healthy" 15 "$BB_PID"
BB_URL="http://127.0.0.1:$BB_PORT/probe?module=http_2xx&target=$TARGET"
curl -fsS "$BB_URL" | grep -q '^probe_success 1' || die "blackbox_exporter's probe of nginx fails"

# --- pageinspect -----------------------------------------------------------------------------
PI_PORT=$(free_port 18381)
start_pageinspect "$PI_PORT"
SPEC="{\"kind\":\"http\",\"target\":\"$TARGET\",\"timeout_ms\":5000}"
curl -fsS -H 'content-type: application/json' -H "Authorization: Bearer $BENCH_PI_TOKEN" \
    -d "$SPEC" "http://127.0.0.1:$PI_PORT/api/v1/probe" |
    grep -q '"success":true' || die "pageinspect's probe of nginx fails"
# One Lua script for both sides: counts answers and failed probes in each wrk thread, and prints
# the totals. $1 is the literal text a successful probe's answer contains; POST when a body is
# given.
probe_script() {
    local out=$1 success=$2 body=${3:-}
    {
        if [[ -n "$body" ]]; then
            echo 'wrk.method = "POST"'
            echo "wrk.body = '$body'"
            echo 'wrk.headers["Content-Type"] = "application/json"'
            echo "wrk.headers[\"Authorization\"] = \"Bearer $BENCH_PI_TOKEN\""
        fi
        cat <<LUA
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) answered = 0; failed = 0 end
function response(status, headers, body)
    answered = answered + 1
    if status ~= 200 or not string.find(body, '$success', 1, true) then failed = failed + 1 end
end
function done(summary, latency, requests)
    local a, f = 0, 0
    for _, t in ipairs(threads) do a = a + t:get("answered"); f = f + t:get("failed") end
    io.write(string.format("ANSWERED %d FAILED %d\\n", a, f))
end
LUA
    } >"$out"
}
probe_script "$WORK/blackbox.lua" 'probe_success 1'
probe_script "$WORK/pageinspect.lua" '"success":true' "$SPEC"
PI_METRICS="http://127.0.0.1:$PI_PORT/metrics"
pi_failures() {
    curl -fsS "$PI_METRICS" | awk '/^has_probes_total\{kind="http",result="failure"\}/ {print $2}'
}

# --- measure ---------------------------------------------------------------------------------
# wrk's latency distribution line for a percentile, in ms.
latency_ms() {
    awk -v p="$2" '$1 == p {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
        printf "%.2f", v }' "$1"
}

# measure ROUND NAME PID URL: warm-up, then the measured wrk run; prints one TSV row.
measure() {
    local round=$1 name=$2 pid=$3 url=$4
    local script="$WORK/${name%%_*}.lua"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s "$script" "$url" >/dev/null
    local cpu0 cpu1 pif0 pif1 out="$WORK/wrk-$round-$name.txt" load0
    load0=$(cut -d' ' -f1 /proc/loadavg)
    log "round $round, $name: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency (load $load0)"
    cpu0=$(cpu_seconds "$pid")
    pif0=$(pi_failures)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" "$url" >"$out"
    cpu1=$(cpu_seconds "$pid")
    pif1=$(pi_failures)
    local rps requests non2xx failed answered
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    requests=$(awk '/requests in/ {print $1}' "$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
    answered=$(awk '/^ANSWERED/ {print $2}' "$out")
    failed=$(awk '/^ANSWERED/ {print $4}' "$out")
    [[ -n "$answered" ]] || die "wrk printed no probe counts: $(cat "$out")"
    pif0=${pif0:-0} pif1=${pif1:-0}
    [[ "$name" == pageinspect ]] &&
        log "pageinspect's has_probes_total{result=\"failure\"} rose by $((${pif1%.*} - ${pif0%.*})); wrk saw $failed failed"
    awk -v r="$round" -v n="$name" -v rps="$rps" -v p50="$(latency_ms "$out" 50%)" \
        -v p99="$(latency_ms "$out" 99%)" \
        -v cpu="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.2f", b - a}')" \
        -v req="$requests" -v bad="${non2xx:-0}" -v rss="$(peak_rss_mib "$pid")" \
        -v failed="$failed" -v answered="$answered" -v ld="$load0" \
        'BEGIN {printf "%s\t%s\t%.0f\t%s\t%s\t%.3f\t%s\t%s\t%s / %s\t%s\n",
            r, n, rps, p50, p99, cpu * 1000 / req, rss, bad, failed, answered, ld}'
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$WORK/rows.tsv"
for ((round = 1; round <= ROUNDS; round++)); do
    measure "$round" blackbox_exporter "$BB_PID" "$BB_URL" >>"$WORK/rows.tsv"
    measure "$round" pageinspect "$PI_PID" "http://127.0.0.1:$PI_PORT/api/v1/probe" >>"$WORK/rows.tsv"
done

echo
echo "pageinspect vs blackbox_exporter: http probe of $TARGET (nginx), wrk -t$THREADS" \
    "-c$CONNECTIONS -d${DURATION}s per side, $ROUNDS rounds alternating"
echo
echo "| round | process | probes/s | p50 ms | p99 ms | CPU s / 1,000 probes | peak RSS MiB | non-2xx | failed probes / answers | load at start |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
awk -F'\t' '{printf "| %s |\n", $0}' "$WORK/rows.tsv" | sed 's/\t/ | /g'
echo
echo "| round | probes/s ratio | p50 ratio | p99 ratio | CPU per probe ratio | target (≥ 2× probes/s, p99 no worse) |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
awk -F'\t' '$2 == "blackbox_exporter" {b[$1] = $0}
    $2 == "pageinspect" {
        split(b[$1], x, "\t")
        printf "| %s | %.2fx | %.2fx | %.2fx | %.2fx | %s |\n", $1, $3 / x[3], $4 / x[4],
            $5 / x[5], $6 / x[6], ($3 >= 2 * x[3] && $5 <= x[5]) ? "met" : "NOT met"
    }' "$WORK/rows.tsv"
