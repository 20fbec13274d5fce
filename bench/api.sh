#!/usr/bin/env bash
# API throughput of acmangkut on SQLite and PostgreSQL, side by side, with wrk.
#
#   bench/api.sh                 # ~3.5 minutes
#   BENCH_DURATION=10 bench/api.sh
#
# Starts pageinspect and acmangkut (release build, scheduler off, logs and metric log in a temp
# dir, a random bootstrap token), seeds BENCH_MONITORS monitors (1000), then runs wrk
# (BENCH_THREADS=2 threads, BENCH_CONNECTIONS=64 connections, BENCH_DURATION=20 s each) against
#   GET  /healthz                          (framework ceiling)
#   GET  /api/v1/monitors?per_page=50      (list)
#   GET  /api/v1/monitors?per_page=50      (list with an API token: `list-token`)
#   GET  /api/v1/monitors/{random seeded id} (read)
#   POST /api/v1/monitors                  (create, unique names from a Lua script)
# Requests carry `Authorization: Bearer` with the bootstrap token (checked in memory), except
# `list-token`: an API token `has_…` with monitors:read, as an API client holds one (looked up
# in the database on every request).
# once on SQLite (temp file) and once on PostgreSQL (fresh database created and dropped here;
# BENCH_PG_URL=postgres://postgres@127.0.0.1:5432, BENCH_SKIP_PG=1 to skip).
# Prints a markdown table with req/s, p50/p99, and the ratio to the original product's target
# (500 QPS read, 50 TPS write, on 4 cores).
# BENCH_BASELINE_BIN=DIR: a folder holding another release `acmangkut` (e.g. built from the
# commit before a change): each backend then runs that build and this one back to back, and a
# second table gives each request's req/s before and after and their ratio.
# wrk runs on the same machine and takes its share of the cores: the numbers are a floor.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${BENCH_DURATION:-20}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
MONITORS=${BENCH_MONITORS:-1000}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
BASELINE=${BENCH_BASELINE_BIN:-}
READ_TARGET=500
WRITE_TARGET=50

need_cmd wrk:wrk curl:curl jq:jq psql:postgresql-client
build_release
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

make_workdir api

PI_PORT=$(free_port 18181)
start_pageinspect "$PI_PORT"
log "pageinspect pid $PI_PID on :$PI_PORT; work dir $WORK"

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# Latency like "1.23ms", "850.00us" or "1.02s" → milliseconds.
to_ms() {
    awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0}
          else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v}' <<<"$1"
}

# run_wrk BACKEND NAME TARGET_RPS URL [LUA] (bearer: $WRK_TOKEN, else $BENCH_TOKEN; a Lua
# script that gives headers of its own gives this one too)
run_wrk() {
    local backend=$1 name=$2 target=$3 url=$4 lua=${5:-} out="$WORK/wrk-$1-$2.txt"
    local args=(-t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency
        -H "Authorization: Bearer ${WRK_TOKEN:-$BENCH_TOKEN}")
    [[ -n "$lua" ]] && args+=(-s "$lua")
    local cpu0 cpu1 t0 t1
    cpu0=$(cpu_seconds "$AC_PID")
    t0=$(date +%s.%N)
    log "$backend $name: wrk ${args[*]/#Authorization: */Authorization: …} $url"
    timeout $((DURATION + 30)) wrk "${args[@]}" "$url" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
    t1=$(date +%s.%N)
    cpu1=$(cpu_seconds "$AC_PID")
    local rps p50 p99 non2xx errs cores
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
    errs=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10}' "$out")
    cores=$(awk -v a="$cpu0" -v b="$cpu1" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.2f", (b-a)/(t1-t0)}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$name" "$rps" "$p50" "$p99" \
        "${non2xx:-0}" "${errs:-0}" "$cores" "$target" >>"$RESULTS"
    log "$backend $name: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, non-2xx ${non2xx:-0}, acmangkut ${cores} cores"
}

# Lua scripts: random reads over the seeded ids, creates with names unique per run and thread.
write_lua() {
    local lo=$1 hi=$2 tag=$3
    cat >"$WORK/read.lua" <<EOF
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/v1/monitors/" .. math.random($lo, $hi))
end
EOF
    cat >"$WORK/create.lua" <<EOF
local counter = 1
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  prefix = "wrk-$tag-" .. tid .. "-"
end
request = function()
  counter = counter + 1
  local body = '{"name":"' .. prefix .. counter .. '","interval_seconds":60,' ..
    '"probe":{"kind":"http","target":"http://127.0.0.1:9/","timeout_ms":2000}}'
  return wrk.format("POST", "/api/v1/monitors",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer $BENCH_TOKEN"}, body)
end
EOF
}

bench_backend() {
    local backend=$1 db=$2 port
    port=$(free_port 18180)
    start_acmangkut "$port" "$db" "$PI_PORT" HAS_SCHEDULER__ENABLED=false
    local base="http://127.0.0.1:$port"
    log "$backend: acmangkut pid $AC_PID on :$port; seeding $MONITORS monitors"
    local seeded
    seeded=$(seed_monitors "$base" "$MONITORS" "http://127.0.0.1:9/" 60 "seed-$backend") ||
        die "seeding failed: $seeded"
    log "$backend: seeded $seeded"
    local lo hi
    lo=$(jq -r .min_id <<<"$seeded")
    hi=$(jq -r .max_id <<<"$seeded")
    write_lua "$lo" "$hi" "$backend-$$"
    run_wrk "$backend" healthz 0 "$base/healthz"
    run_wrk "$backend" list "$READ_TARGET" "$base/api/v1/monitors?per_page=50"
    local token
    token=$(read_token "$base") || die "no API token"
    WRK_TOKEN=$token run_wrk "$backend" list-token "$READ_TARGET" "$base/api/v1/monitors?per_page=50"
    run_wrk "$backend" read "$READ_TARGET" "$base/api/v1/monitors/$lo" "$WORK/read.lua"
    run_wrk "$backend" create "$WRITE_TARGET" "$base/api/v1/monitors" "$WORK/create.lua"
    log "$backend: acmangkut peak RSS $(peak_rss_mib "$AC_PID") MiB"
    stop_pid "$AC_PID"
}

# The builds to run: this one, after the baseline when one is given.
CURRENT=$ACMANGKUT
BUILDS=(current)
if [[ -n "$BASELINE" ]]; then
    [[ -x "$BASELINE/acmangkut" ]] || die "no executable $BASELINE/acmangkut"
    BUILDS=(baseline current)
fi
# label BACKEND BUILD: the name rows carry ("sqlite", or "sqlite-baseline" when comparing).
label() { if [[ -n "$BASELINE" ]]; then echo "$1-$2"; else echo "$1"; fi; }
use_build() { if [[ $1 == baseline ]]; then ACMANGKUT="$BASELINE/acmangkut"; else ACMANGKUT=$CURRENT; fi; }

for build in "${BUILDS[@]}"; do
    use_build "$build"
    bench_backend "$(label sqlite "$build")" "sqlite://$WORK/has-$build.db"
done

if [[ "${BENCH_SKIP_PG:-0}" != 1 ]]; then
    if psql "$PG_URL/postgres" -qAt -c "SELECT 1" >/dev/null 2>&1; then
        for build in "${BUILDS[@]}"; do
            use_build "$build"
            db="has_bench_$$_$RANDOM"
            create_pg_db "$db"
            bench_backend "$(label postgres "$build")" "$PG_URL/$db"
        done
    else
        log "PostgreSQL at $PG_URL does not answer; skipping it"
    fi
fi

echo
echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)," \
    "wrk -t$THREADS -c$CONNS -d${DURATION}s on the same machine, $MONITORS monitors seeded;" \
    "load average (1, 5, 15 min) $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "| backend | endpoint | req/s | p50 ms | p99 ms | non-2xx | socket errors | acmangkut CPU (cores) | target req/s (4 cores) | ratio to target |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
awk -F'\t' '{
    ratio = ($9 > 0) ? sprintf("%.1f×", $3 / $9) : "—"
    target = ($9 > 0) ? $9 : "—"
    printf "| %s | %s | %.0f | %.2f | %.2f | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, target, ratio
}' "$RESULTS"
if [[ -n "$BASELINE" ]]; then
    echo
    echo "Baseline: $BASELINE/acmangkut; current: $CURRENT."
    echo
    echo "| backend | endpoint | baseline req/s | current req/s | current / baseline | baseline p99 ms | current p99 ms |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{
        split($1, b, "-"); key = b[1] "\t" $2
        if (b[2] == "baseline") { base[key] = $3; bp99[key] = $5 } else { cur[key] = $3; cp99[key] = $5; order[++n] = key }
    } END {
        for (i = 1; i <= n; i++) {
            k = order[i]; split(k, f, "\t")
            printf "| %s | %s | %.0f | %.0f | %.2f× | %.2f | %.2f |\n", f[1], f[2], base[k], cur[k], cur[k] / base[k], bp99[k], cp99[k]
        }
    }' "$RESULTS"
fi
