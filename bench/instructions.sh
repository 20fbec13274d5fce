#!/usr/bin/env bash
# Instructions per API request (callgrind), for one build or two side by side.
#
#   bench/instructions.sh                              # this build (release), ~2 minutes
#   BENCH_BASELINE_BIN=/path/to/dir bench/instructions.sh   # that folder's acmangkut too
#
# Seeds BENCH_MONITORS (1000) monitors into a SQLite file with a native acmangkut, then starts
# acmangkut on a copy of that file under `valgrind --tool=callgrind --instr-atstart=no`
# (scheduler off, bootstrap token), sends 50 warm-up requests, switches instrumentation on
# (`callgrind_control -i on`), sends BENCH_LIST (200) list requests
# (`GET /api/v1/monitors?per_page=50`), BENCH_READ (500) reads by id and as many `/healthz` over
# one keep-alive connection each (one curl process), and reads the instructions counted (all threads, user
# space) from each dump. Instruction counts do not depend on the machine's load: the same
# binary and inputs give the same total, so two builds compare exactly.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MONITORS=${BENCH_MONITORS:-1000}
LIST_N=${BENCH_LIST:-200}
READ_N=${BENCH_READ:-500}
BASELINE=${BENCH_BASELINE_BIN:-}

need_cmd valgrind:valgrind curl:curl jq:jq
build_release

make_workdir instr

PI_PORT=$(free_port 18191)
start_pageinspect "$PI_PORT"

# The seeded database every build starts from (a copy each, so both see the same rows).
port=$(free_port 18190)
start_acmangkut "$port" "sqlite://$WORK/seed.db" "$PI_PORT" HAS_SCHEDULER__ENABLED=false
seeded=$(seed_monitors "http://127.0.0.1:$port" "$MONITORS" "http://127.0.0.1:9/" 60 seed) ||
    die "seeding failed: $seeded"
SEED_LO=$(jq -r .min_id <<<"$seeded")
stop_pid "$AC_PID"
log "seeded $MONITORS monitors (first id $SEED_LO)"

# requests URL N: N GETs of URL over one connection, each answered 200.
requests() {
    local url=$1 n=$2 args=() i
    for ((i = 0; i < n; i++)); do args+=(-o /dev/null "$url"); done
    local codes
    codes=$(curl -s -w '%{http_code}\n' -H "Authorization: Bearer $BENCH_TOKEN" "${args[@]}")
    [[ $(grep -c '^200$' <<<"$codes") == "$n" ]] ||
        die "not every request to $url answered 200: $(sort <<<"$codes" | uniq -c | tr -s " \n" " ")"
}

# counted NAME URL N: instructions of N requests to URL, instrumentation on only around them.
counted() {
    local name=$1 url=$2 n=$3 pid=$AC_PID before after
    callgrind_control -i on "$pid" >/dev/null
    requests "$url" "$n"
    callgrind_control -i off "$pid" >/dev/null
    before=$(ls "$WORK/cg/" | wc -l)
    callgrind_control -d "$name" "$pid" >/dev/null
    for _ in $(seq 1 100); do
        after=$(ls "$WORK/cg/" | wc -l)
        ((after > before)) && break
        sleep 0.1
    done
    local dump total
    dump=$(ls -v "$WORK"/cg/callgrind.*.* | tail -1)
    total=$(awk '/^totals:/ {print $2}' "$dump")
    [[ -n "$total" ]] || die "no totals in $dump"
    echo $((total / n))
}

# measure BUILD BINARY: prints "BUILD<TAB>list<TAB>read" instructions per request.
measure() {
    local build=$1 bin=$2
    cp "$WORK/seed.db" "$WORK/$build.db"
    mkdir -p "$WORK/cg"
    rm -f "$WORK"/cg/*
    local port
    port=$(free_port 18192)
    ACMANGKUT_REAL=$bin
    cat >"$WORK/valgrind-acmangkut" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$WORK/cg/callgrind.%p "$bin"
EOF
    chmod +x "$WORK/valgrind-acmangkut"
    ACMANGKUT="$WORK/valgrind-acmangkut" start_acmangkut "$port" "sqlite://$WORK/$build.db" \
        "$PI_PORT" HAS_SCHEDULER__ENABLED=false HAS_INSPECTION__ENABLED=false
    # start_acmangkut's PID is valgrind's (it execs the tool, which runs the program in-process).
    local base="http://127.0.0.1:$port"
    requests "$base/api/v1/monitors?per_page=50" 50
    requests "$base/api/v1/monitors/$SEED_LO" 50
    requests "$base/healthz" 50
    local list read health
    list=$(counted list "$base/api/v1/monitors?per_page=50" "$LIST_N")
    read=$(counted read "$base/api/v1/monitors/$SEED_LO" "$READ_N")
    health=$(counted healthz "$base/healthz" "$READ_N")
    stop_pid "$AC_PID"
    log "$build ($ACMANGKUT_REAL): list $list, read $read, healthz $health instructions per request"
    printf '%s\t%s\t%s\t%s\n' "$build" "$list" "$read" "$health" >>"$WORK/results.tsv"
}

: >"$WORK/results.tsv"
[[ -n "$BASELINE" ]] && measure baseline "$BASELINE/acmangkut"
measure current "$ACMANGKUT"

echo
echo "Instructions per request (callgrind, all threads; $MONITORS monitors on SQLite;" \
    "$LIST_N list and $READ_N read requests after 50 warm-up each)"
echo
echo "| build | list (per_page=50) | read by id | /healthz |"
echo "| --- | ---: | ---: | ---: |"
awk -F'\t' '{printf "| %s | %d | %d | %d |\n", $1, $2, $3, $4}' "$WORK/results.tsv"
if [[ -n "$BASELINE" ]]; then
    awk -F'\t' 'NR == 1 {bl = $2; br = $3; bh = $4}
        NR == 2 {printf "| current / baseline | %.3f | %.3f | %.3f |\n", $2 / bl, $3 / br, $4 / bh}' \
        "$WORK/results.tsv"
fi
