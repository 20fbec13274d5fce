#!/usr/bin/env bash
# pageinspect vs Prometheus' blackbox_exporter: the same http probe of the same local nginx
# page, driven by wrk at equal concurrency, one after the other in one run.
#
#   bench/blackbox.sh                    # ~1 minute (+ the release build)
#   BENCH_DURATION=30s BENCH_CONNECTIONS=64 bench/blackbox.sh
#
# nginx: own config in a temp dir, 127.0.0.1, worker_processes 1, access_log off, static page.
# blackbox_exporter (Debian package prometheus-blackbox-exporter, installed when missing):
#   GET /probe?module=http_2xx&target=http://127.0.0.1:NGINX/ with module http_2xx
#   (prober: http, ip4 only, no fallback). pageinspect (release build, egress guard at its
#   defaults, logs to files only): POST /api/v1/probe {"kind":"http","target":…,"timeout_ms":5000}
#   from a wrk Lua script. Both open a new connection to nginx per probe.
# wrk: -t BENCH_THREADS (2) -c BENCH_CONNECTIONS (32) -d BENCH_DURATION (20s) --latency, after
# a 3 s warm-up of each. Measured per side: probes/s and p50/p99 latency (wrk), CPU seconds
# per 1,000 probes (utime+stime delta of the exporter/pageinspect process only, from
# /proc/PID/stat), peak RSS (VmHWM), non-2xx answers, and probe failures (pageinspect's
# has_probes_total, blackbox's probe_success in a sample), then the ratios.
# BENCH_PAGEINSPECT=/path/to/pageinspect uses that binary and skips the build.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
DURATION=${BENCH_DURATION:-20s}
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
cat >"$WORK/probe.lua" <<LUA
wrk.method = "POST"
wrk.body = '$SPEC'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $BENCH_PI_TOKEN"
LUA

# --- measure ---------------------------------------------------------------------------------
# wrk's latency distribution line for a percentile, in ms.
latency_ms() {
    awk -v p="$2" '$1 == p {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
        printf "%.2f", v }' "$1"
}

# measure NAME PID URL [wrk args…]: warm-up, then the measured wrk run; prints one TSV row.
measure() {
    local name=$1 pid=$2 url=$3
    shift 3
    wrk -t"$THREADS" -c"$CONNECTIONS" -d3s "$@" "$url" >/dev/null
    local cpu0 cpu1 out="$WORK/wrk-$name.txt"
    log "$name: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    cpu0=$(cpu_seconds "$pid")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$out"
    cpu1=$(cpu_seconds "$pid")
    local rps requests non2xx
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    requests=$(awk '/requests in/ {print $1}' "$out")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
    awk -v n="$name" -v rps="$rps" -v p50="$(latency_ms "$out" 50%)" -v p99="$(latency_ms "$out" 99%)" \
        -v cpu="$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {printf "%.2f", b - a}')" \
        -v req="$requests" -v bad="${non2xx:-0}" -v rss="$(peak_rss_mib "$pid")" \
        'BEGIN {printf "%s\t%.0f\t%s\t%s\t%s\t%.3f\t%s\t%s\n", n, rps, p50, p99, cpu, cpu * 1000 / req, rss, bad}'
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
BB_ROW=$(measure blackbox_exporter "$BB_PID" "$BB_URL")
PI_ROW=$(measure pageinspect "$PI_PID" "http://127.0.0.1:$PI_PORT/api/v1/probe" -s "$WORK/probe.lua")
PI_FAILED=$(curl -fsS "http://127.0.0.1:$PI_PORT/metrics" |
    awk '/^has_probes_total\{kind="http",result="failure"\}/ {print $2}')
BB_SAMPLE=$(curl -fsS "$BB_URL" | awk '/^probe_success / {print $2}')

echo
echo "pageinspect vs blackbox_exporter: http probe of $TARGET (nginx), wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
{
    printf 'process\tprobes/s\tp50 ms\tp99 ms\tCPU s\tCPU s / 1k probes\tpeak RSS MiB\tnon-2xx\n'
    printf '%s\n%s\n' "$BB_ROW" "$PI_ROW"
} | column -t -s $'\t'
awk -F'\t' -v bb="$BB_ROW" -v pi="$PI_ROW" 'BEGIN {
    split(bb, b, "\t"); split(pi, p, "\t")
    printf "\nratios pageinspect / blackbox_exporter: probes/s %.2fx, p50 %.2fx, p99 %.2fx, CPU per probe %.2fx, peak RSS %.2fx\n",
        p[2] / b[2], p[3] / b[3], p[4] / b[4], p[6] / b[6], p[7] / b[7]
    printf "target: probes/s >= 2x with p99 no worse: %s\n", (p[2] >= 2 * b[2] && p[4] <= b[4]) ? "met" : "NOT met"
}'
echo "pageinspect failed probes: ${PI_FAILED:-?}; blackbox probe_success after the run: ${BB_SAMPLE:-?}"
