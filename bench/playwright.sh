#!/usr/bin/env bash
# pageinspect's browser probes side by side with a Playwright loop, alternately in one run.
#
#   bench/playwright.sh                  # ~4 minutes
#   BENCH_DURATION=10 BENCH_ROUNDS=1 BENCH_BINARIES=headless-shell bench/playwright.sh
#
# Both sides use one browser on the same Chromium binary, a fresh browser context per check, the
# same page (nginx on 127.0.0.1, bench/lib.sh's shop page) and the same number of checks in
# flight (BENCH_LEVEL, 8): pageinspect (release build, browser.pool_size 1, max_concurrent_pages
# BENCH_LEVEL) gets BENCH_LEVEL concurrent one-probe batches from a python driver; the
# Playwright side is bench/playwright/loop.mjs (playwright-core from bench/playwright's lock
# file, installed when missing), BENCH_LEVEL async workers in one node process. A check: load
# to the load event (BENCH_IDLE_MS, 0: no network-idle wait; > 0: pageinspect's
# network_idle_quiet_ms and Playwright's `networkidle`), then status 200, the `h1` text and no
# uncaught JavaScript error.
# For each binary in BENCH_BINARIES ("headless-shell full") and round (BENCH_ROUNDS, 2), each
# side runs BENCH_DURATION (30) seconds, pageinspect first, then Playwright. CPU per check is
# the user+system CPU of the side's process tree (pageinspect or node, plus their browsers,
# exited renderers included; see bench/proctree.py); the pageinspect side's HTTP client (the
# python driver, in acmangkut's place) is given apart. Prints a markdown table and the ratios.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${BENCH_DURATION:-30}
LEVEL=${BENCH_LEVEL:-8}
ROUNDS=${BENCH_ROUNDS:-2}
IDLE_MS=${BENCH_IDLE_MS:-0}
BINARIES=${BENCH_BINARIES:-"headless-shell full"}

need_cmd nginx:nginx-light curl:curl python3:python3 node:nodejs npm:npm
[[ -x /usr/lib/chromium/chromium-headless-shell ]] ||
    need_cmd chromium-headless-shell:chromium-headless-shell
[[ -x /usr/bin/chromium ]] || need_cmd chromium:chromium
if [[ ! -d "$BENCH_DIR/playwright/node_modules/playwright-core" ]]; then
    log "installing bench/playwright npm dependencies (playwright-core; no browser download)"
    npm ci --prefix "$BENCH_DIR/playwright" --no-audit --no-fund --loglevel=error
fi
build_pageinspect

make_workdir playwright shared
NGINX_PORT=$(free_port 18389)
serve_shop_page "$NGINX_PORT"
URL="http://127.0.0.1:$NGINX_PORT/"
COMPARE="$BENCH_DIR/playwright/compare.py"

executable() {
    case $1 in
    headless-shell) echo /usr/lib/chromium/chromium-headless-shell ;;
    full) echo /usr/bin/chromium ;;
    *) die "unknown binary $1 (headless-shell or full)" ;;
    esac
}

# One pageinspect level on binary $1; prints the driver's JSON line.
pageinspect_side() {
    local port
    port=$(free_port 18481)
    mkdir -p "$WORK/logs/pi"
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" HAS_AUTH__ALLOW_ANONYMOUS=true \
        HAS_SERVER__LISTEN="127.0.0.1:$port" \
        HAS_LOG__DIR="$WORK/logs/pi" HAS_LOG__STDOUT=false HAS_LOG__LEVEL=info \
        HAS_BROWSER__POOL_SIZE=1 HAS_BROWSER__MAX_CONCURRENT_PAGES="$LEVEL" \
        HAS_BROWSER__EXECUTABLE="$1" \
        "$PAGEINSPECT" >>"$WORK/logs/pi.out" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_http "http://127.0.0.1:$port/healthz" 30 "$pid"
    python3 "$COMPARE" pageinspect "$port" "$pid" "$URL" "$LEVEL" "$DURATION" "$IDLE_MS"
    stop_pid "$pid"
}

ROWS="$WORK/rows.tsv"
for binary in $BINARIES; do
    exe=$(executable "$binary")
    for round in $(seq "$ROUNDS"); do
        log "$binary, round $round: pageinspect ($LEVEL in flight, ${DURATION}s)"
        printf '%s\t%s\tpageinspect\t%s\n' "$binary" "$round" "$(pageinspect_side "$exe")" >>"$ROWS"
        log "$binary, round $round: Playwright ($LEVEL in flight, ${DURATION}s)"
        printf '%s\t%s\tplaywright\t%s\n' "$binary" "$round" \
            "$(python3 "$COMPARE" playwright "$exe" "$URL" "$LEVEL" "$DURATION" "$IDLE_MS")" \
            >>"$ROWS"
    done
done

python3 - "$ROWS" "$LEVEL" "$IDLE_MS" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t", 3) for l in open(sys.argv[1])]
print(f"\n{sys.argv[2]} checks in flight, network idle {sys.argv[3]} ms\n")
print("| binary | round | side | checks/s | checks | failed | p50 ms | p99 ms | CPU ms/check "
      "(service + browser) | service | browser | driver (outside) | load avg |")
print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
sums = {}
for binary, rnd, side, js in rows:
    r = json.loads(js)
    cpu = r["root_cpu_ms"] + r["browser_cpu_ms"]
    print(f"| {binary} | {rnd} | {side} | {r['per_s']:.1f} | {r['ok'] + r['failed']} "
          f"| {r['failed']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {cpu:.0f} "
          f"| {r['root_cpu_ms']:.1f} | {r['browser_cpu_ms']:.0f} | {r['driver_cpu_ms']:.1f} "
          f"| {r['load']:.1f} |")
    s = sums.setdefault((binary, side), [0.0, 0.0, 0])
    s[0] += r["per_s"]; s[1] += cpu; s[2] += 1
print()
for binary in dict.fromkeys(b for b, _ in sums):
    pi, pw = sums.get((binary, "pageinspect")), sums.get((binary, "playwright"))
    if pi and pw:
        rate = (pi[0] / pi[2]) / (pw[0] / pw[2])
        cpu = (pi[1] / pi[2]) / (pw[1] / pw[2])
        print(f"{binary}: pageinspect / Playwright = {rate:.2f}x the checks per second at "
              f"{cpu:.2f}x the CPU per check (means over the rounds)")
PY
