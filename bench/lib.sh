# Shared helpers of the HAS benchmark scripts (sourced, not run).
# Everything listens on 127.0.0.1 only; every wait is bounded in time.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ACMANGKUT="${BENCH_ACMANGKUT:-$TARGET_DIR/release/acmangkut}"
PAGEINSPECT="${BENCH_PAGEINSPECT:-$TARGET_DIR/release/pageinspect}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Installs the Debian packages providing the given commands when they are missing.
# Usage: need_cmd CMD:PACKAGE ...
need_cmd() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || [[ -x "/usr/sbin/${pair%%:*}" ]] ||
            missing+=("${pair#*:}")
    done
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Release build of both services once (skip with BENCH_NO_BUILD=1).
build_release() {
    if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
        log "cargo build --release -p acmangkut -p pageinspect (may wait for the target/ lock)"
        (cd "$ROOT" && cargo build --release -q -p acmangkut -p pageinspect)
    fi
    [[ -x "$ACMANGKUT" && -x "$PAGEINSPECT" ]] || die "release binaries missing in $TARGET_DIR/release"
}

# Release build of pageinspect alone (skip with BENCH_NO_BUILD=1).
build_pageinspect() {
    if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
        log "cargo build --release -p pageinspect (may wait for the target/ lock)"
        (cd "$ROOT" && cargo build --release -q -p pageinspect)
    fi
    [[ -x "$PAGEINSPECT" ]] || die "no pageinspect binary at $PAGEINSPECT"
}

# The run's work directory $WORK (/tmp/has-bench-$1.*), removed at exit with the processes
# started and the PostgreSQL databases created (BENCH_KEEP=1 keeps it). With `shared` as $2 it
# is readable by others: nginx's worker may run as another user.
PG_DBS=()
make_workdir() {
    WORK=$(mktemp -d "/tmp/has-bench-$1.XXXXXX")
    [[ "${2:-}" == shared ]] && chmod 755 "$WORK"
    trap on_exit EXIT
    trap 'exit 130' INT TERM
}
on_exit() {
    cleanup_pids
    local db
    for db in "${PG_DBS[@]}"; do
        psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $db"
    done
    [[ "${BENCH_KEEP:-0}" == 1 ]] && log "kept $WORK" || rm -rf "$WORK"
}

# Creates an empty PostgreSQL database named $1 (dropped at exit).
create_pg_db() {
    PG_DBS+=("$1")
    psql "$PG_URL/postgres" -qAt -c "CREATE DATABASE $1" >/dev/null || die "cannot create $1"
}

# Whether a TCP port on 127.0.0.1 is free.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# First free port at or after $1.
free_port() {
    local p=$1
    while ! port_free "$p"; do
        p=$((p + 1))
        ((p < $1 + 200)) || die "no free port near $1"
    done
    echo "$p"
}

# Waits until URL answers 200 (at most $2 seconds, default 30); fails if PID $3 died.
wait_http() {
    local url=$1 limit=${2:-30} pid=${3:-} deadline=$((SECONDS + ${2:-30}))
    while ((SECONDS < deadline)); do
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            die "process $pid exited before $url answered (see logs in $WORK)"
        fi
        sleep 0.2
    done
    die "$url did not answer within ${limit}s (see logs in $WORK)"
}

# The bootstrap token (iam.bootstrap_token) of every acmangkut these scripts start: random per
# run, sent as `Authorization: Bearer` by the load generators. BENCH_PI_TOKEN: pageinspect's
# auth.service_token, which acmangkut presents (pageinspect.token).
BENCH_TOKEN=${BENCH_TOKEN:-bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
BENCH_PI_TOKEN=${BENCH_PI_TOKEN:-pi-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}

# Processes started by this script (stopped at exit, by PID only).
PIDS=()
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup_pids() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
}

# Starts pageinspect on 127.0.0.1:$1 with a clean environment (it refuses acmangkut's keys),
# accepting $BENCH_PI_TOKEN; sets PI_PID.
start_pageinspect() {
    local port=$1
    mkdir -p "$WORK/logs/pageinspect"
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
        HAS_SERVER__LISTEN="127.0.0.1:$port" HAS_AUTH__SERVICE_TOKEN="$BENCH_PI_TOKEN" \
        HAS_LOG__DIR="$WORK/logs/pageinspect" HAS_LOG__STDOUT=false \
        "$PAGEINSPECT" >"$WORK/logs/pageinspect.out" 2>&1 &
    PI_PID=$!
    PIDS+=("$PI_PID")
    wait_http "http://127.0.0.1:$port/healthz" 30 "$PI_PID"
}

# Starts acmangkut on 127.0.0.1:$1 with database URL $2 and pageinspect port $3, accepting
# $BENCH_TOKEN as its bootstrap token; extra VAR=value arguments follow. The caller's HAS_*
# variables (e.g. HAS_SCHEDULER__BATCH_SIZE) are passed through. Sets AC_PID.
start_acmangkut() {
    local port=$1 db=$2 pi_port=$3
    shift 3
    local name="acmangkut-$port-$RANDOM"
    mkdir -p "$WORK/logs/$name" "$WORK/metric/$name"
    env HAS_SERVER__LISTEN="127.0.0.1:$port" \
        HAS_DATABASE__URL="$db" \
        HAS_IAM__BOOTSTRAP_TOKEN="$BENCH_TOKEN" \
        HAS_PAGEINSPECT__URL="http://127.0.0.1:$pi_port" HAS_PAGEINSPECT__TOKEN="$BENCH_PI_TOKEN" \
        HAS_LOG__DIR="$WORK/logs/$name" HAS_LOG__STDOUT=false \
        HAS_METRIC_LOG__DIR="$WORK/metric/$name" \
        "$@" "$ACMANGKUT" >"$WORK/logs/$name.out" 2>&1 &
    AC_PID=$!
    PIDS+=("$AC_PID")
    wait_http "http://127.0.0.1:$port/readyz" 60 "$AC_PID"
}

# start_nginx PORT [WORKER_CONNECTIONS]: nginx serving "$WORK/nginx/www" (the caller fills it)
# on 127.0.0.1:PORT with its own config in "$WORK/nginx": one worker, no access log unless
# NGINX_ACCESS_LOG names a file (then one line per request: arrival time `$msec` and the query
# argument `m`). Sets NGINX_PID and adds it to PIDS; returns once it answers.
start_nginx() {
    local port=$1 connections=${2:-4096}
    local nginx access="access_log off;"
    [[ -n "${NGINX_ACCESS_LOG:-}" ]] &&
        access="log_format arrival '\$msec \$arg_m'; access_log $NGINX_ACCESS_LOG arrival buffer=64k flush=1s;"
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    mkdir -p "$WORK/nginx/www" "$WORK/nginx/tmp"
    chmod -R a+rX "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections $connections; }
http {
    $access
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $WORK/nginx/www;
        location / { index index.html; }
    }
}
CONF
    "$nginx" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx/stdout" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_http "http://127.0.0.1:$port/" 10 "$NGINX_PID"
}

# nginx on port $1 serving the browser benchmarks' page: a script writes its `h1` ("Ready").
serve_shop_page() {
    mkdir -p "$WORK/nginx/www"
    cat >"$WORK/nginx/www/index.html" <<'HTML'
<!doctype html><html><head><title>Bench shop</title><style>body{font:16px sans-serif}</style></head>
<body><div id="app">starting</div>
<script>document.getElementById('app').innerHTML = '<h1 class="ready">Ready</h1>';</script>
</body></html>
HTML
    start_nginx "$1" 1024
}

# nginx on port $1 serving one small page.
serve_ok_page() {
    mkdir -p "$WORK/nginx/www"
    printf '<!doctype html><title>ok</title><p>ok</p>\n' >"$WORK/nginx/www/index.html"
    start_nginx "$1" 4096
}

# CPU seconds (user+system) a process has used so far.
cpu_seconds() {
    local pid=$1 stat rest
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || {
        echo 0
        return
    }
    rest=${stat##*) }
    # After "pid (comm) ", utime and stime are fields 12 and 13 of the rest.
    awk -v tck="$(getconf CLK_TCK)" '{printf "%.2f\n", ($12 + $13) / tck}' <<<"$rest"
}

# Peak resident memory (VmHWM) of a process, in MiB.
peak_rss_mib() {
    awk '/^VmHWM:/ {printf "%.1f\n", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo 0
}

# Creates COUNT monitors through acmangkut's API at BASE (curl, 8 transfers in parallel, bearer
# $BENCH_TOKEN), named PREFIX-000000…, probing TARGET every INTERVAL seconds. Prints
# {"created": n, "errors": n, "seconds": s, "min_id": a, "max_id": b}; the ids are those of the
# first and last monitor, contiguous in a fresh database. Usage:
# seed_monitors BASE COUNT TARGET INTERVAL PREFIX
seed_monitors() {
    local base=$1 count=$2 target=$3 interval=$4 prefix=$5
    local cfg="$WORK/seed-$prefix.curl" i name body t0 t1 codes created first last
    : >"$cfg"
    for ((i = 0; i < count; i++)); do
        printf -v name '%s-%06d' "$prefix" "$i"
        body="{\"name\":\"$name\",\"interval_seconds\":$interval,"
        body+="\"probe\":{\"kind\":\"http\",\"target\":\"$target\",\"timeout_ms\":2000}}"
        # One transfer of the curl config file (`next` between two); quotes in a quoted value
        # are escaped.
        ((i > 0)) && echo next >>"$cfg"
        printf '%s\n' "url = \"$base/api/v1/monitors\"" \
            "header = \"Authorization: Bearer $BENCH_TOKEN\"" \
            'header = "Content-Type: application/json"' "data = \"${body//\"/\\\"}\"" \
            'output = "/dev/null"' 'write-out = "%{http_code}\n"' >>"$cfg"
    done
    t0=$(date +%s.%N)
    codes=$(curl -sS --no-progress-meter --parallel --parallel-max 8 --max-time 60 -K "$cfg") ||
        true
    t1=$(date +%s.%N)
    created=$(grep -c '^201$' <<<"$codes" || true)
    first=$(bench_get "$base/api/v1/monitors?per_page=1" | jq '.items[0].id // null')
    last=$(bench_get "$base/api/v1/monitors?per_page=1&page=$((created > 0 ? created : 1))" |
        jq '.items[0].id // null')
    jq -cn --argjson c "$created" --argjson n "$count" --argjson a "$first" --argjson b "$last" \
        --arg s "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')" \
        '{created: $c, errors: ($n - $c), seconds: ($s | tonumber), min_id: $a, max_id: $b}'
    ((created == count))
}

# GET with the bench token; the body on stdout, fails unless 2xx.
bench_get() {
    curl -fsS --max-time 10 -H "Authorization: Bearer $BENCH_TOKEN" "$1"
}

# A fresh API token `has_…` with only `monitors:read`, as an API client would hold one: a
# built-in account with the viewer role signs in (session cookie, CSRF header) and creates it.
# Usage: read_token BASE
read_token() {
    local base=$1 jar="$WORK/cookies.txt" password csrf
    password="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    curl -fsS --max-time 10 -H "Authorization: Bearer $BENCH_TOKEN" -H 'Content-Type: application/json' \
        -d "{\"username\":\"bench\",\"password\":\"$password\",\"roles\":[\"viewer\"]}" \
        "$base/api/v1/iam/users" >/dev/null || die "could not create the bench user"
    curl -fsS --max-time 10 -c "$jar" -H 'Content-Type: application/json' \
        -d "{\"username\":\"bench\",\"password\":\"$password\"}" \
        "$base/api/v1/auth/login" >/dev/null || die "the bench user could not sign in"
    csrf=$(curl -fsS --max-time 10 -b "$jar" "$base/api/v1/auth/me" | jq -r .csrf_token)
    curl -fsS --max-time 10 -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
        -d '{"name":"bench","expires_in_days":1,"permissions":["monitors:read"]}' \
        "$base/api/v1/tokens" | jq -er .secret || die "could not create an API token"
}
