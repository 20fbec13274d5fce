#!/usr/bin/env bash
# Browser probe throughput of pageinspect: headless Chromium loading a static page from a local
# nginx, at increasing concurrency, through POST /api/v1/probes:batch.
#
#   bench/browser.sh                          # ~2.5 minutes
#   BENCH_DURATION=10 BENCH_LEVELS="4 8" bench/browser.sh
#   BENCH_BASELINE_BIN=/path/to/pageinspect bench/browser.sh   # before and after, in one run
#
# BENCH_BASELINE_BIN: another release `pageinspect` binary (e.g. built from main): the levels then
# run against it and the current build alternately, BENCH_ROUNDS (2) times each, each build
# started fresh, one table per run.
# Starts nginx (own temp config, 127.0.0.1, one worker, a small static page) and pageinspect
# (release build; BENCH_POOL=2 browsers x BENCH_PAGES=6 pages each), then for each concurrency
# level in BENCH_LEVELS ("2 4 8 16") keeps that many browser probes in flight for
# BENCH_DURATION (30) seconds from a python3 driver: each worker loops on a batch of one probe.
# Prints a markdown table: probes/s sustained, success share, p50/p99 of the probe duration,
# peak has_browser_memory_bytes (sum of RSS of the Chromium process trees) and peak PSS of the
# browsers (shared pages split, from smaps_rollup), CPU ms per probe of the browsers, plus
# pageinspect's own peak RSS, and the 1-minute load average at the start and end of each level
# (the machine is shared: a level run under load is a floor). On stderr, per level, the browser
# CPU per probe by Chromium process type (browser, renderer, gpu-process, utility, zygote;
# exited renderers are counted through their zygote). Everything runs on the same cores.
# BENCH_LOG_LEVEL (e.g. "info,pageinspect::probers::browser=debug": per-phase timings of every
# probe) and BENCH_KEEP=1 (keep the logs in the temp directory) help find where the time goes.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION=${BENCH_DURATION:-30}
LEVELS=${BENCH_LEVELS:-"2 4 8 16"}
POOL=${BENCH_POOL:-2}
PAGES=${BENCH_PAGES:-6}
TARGET_RATE=10
BASELINE=${BENCH_BASELINE_BIN:-}
ROUNDS=${BENCH_ROUNDS:-2}

need_cmd nginx:nginx-light curl:curl python3:python3
# BENCH_CHROMIUM: the browser binary; default Debian's chromium-headless-shell (pageinspect's
# default), BENCH_CHROMIUM=/usr/bin/chromium compares the full browser in headless mode.
CHROMIUM=${BENCH_CHROMIUM:-/usr/lib/chromium/chromium-headless-shell}
[[ -x /usr/bin/chromium-headless-shell ]] || need_cmd chromium-headless-shell:chromium-headless-shell
[[ -x /usr/bin/chromium ]] || need_cmd chromium:chromium
build_pageinspect

make_workdir browser shared

# --- nginx -----------------------------------------------------------------------------------
NGINX_PORT=$(free_port 18389)
serve_shop_page "$NGINX_PORT"

# --- driver ----------------------------------------------------------------------------------
cat >"$WORK/driver.py" <<'PY'
import json, os, sys, threading, time, urllib.request
sys.path.insert(0, os.environ["BENCH_DIR"])
from proctree import CpuMeter, pct, tree_pss_bytes

pi_port, nginx_port, duration, target = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
pi_pid = sys.argv[5]
levels = [int(x) for x in sys.argv[6:]]
api = f"http://127.0.0.1:{pi_port}"
spec = {
    "kind": "browser",
    "target": f"http://127.0.0.1:{nginx_port}/",
    "timeout_ms": 15000,
    "conditions": ["[STATUS] == 200", "[DOM_TEXT].h1 == Ready", "[JS_ERRORS] == 0"],
}
body = json.dumps({"probes": [spec]}).encode()

def post():
    req = urllib.request.Request(f"{api}/api/v1/probes:batch", data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["results"]

def metric(name):
    text = urllib.request.urlopen(f"{api}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0

# Warm up: start the browsers.
for _ in range(4):
    post()

rows = []
for level in levels:
    durations, ok, failed, errors = [], [0], [0], {}
    lock = threading.Lock()
    stop_at = time.monotonic() + duration
    peak_mem = [0.0]
    peak_pss = [0.0]

    def worker():
        while time.monotonic() < stop_at:
            try:
                results = post()
            except Exception as e:  # a refused or failed call counts as a failure
                with lock:
                    failed[0] += 1
                    errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                continue
            with lock:
                for r in results:
                    durations.append(r["duration_seconds"] * 1000)
                    if r["success"]:
                        ok[0] += 1
                    else:
                        failed[0] += 1
                        key = r.get("failure_reason", "?")
                        errors[key] = errors.get(key, 0) + 1

    def sampler():
        while time.monotonic() < stop_at:
            try:
                meter.sample()
                peak_mem[0] = max(peak_mem[0], metric("has_browser_memory_bytes"))
                peak_pss[0] = max(peak_pss[0], tree_pss_bytes(int(pi_pid)))
            except Exception:
                pass
            time.sleep(1)

    started = time.monotonic()
    load_before = os.getloadavg()[0]
    meter = CpuMeter(int(pi_pid))
    threads = [threading.Thread(target=worker) for _ in range(level)] + [threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    pi_seconds, browser_seconds, by_type = meter.finish()
    load_after = os.getloadavg()[0]
    total = ok[0] + failed[0]
    cpu_pi = pi_seconds * 1000 / max(total, 1)
    cpu_browser = browser_seconds * 1000 / max(total, 1)
    by_type = {k: v * 1000 / max(total, 1) for k, v in by_type.items()}
    rows.append((level, ok[0] / elapsed, total, 100.0 * ok[0] / max(total, 1),
                 pct(durations, 50), pct(durations, 99), peak_mem[0] / 2**20, peak_pss[0] / 2**20,
                 cpu_browser, f"{load_before:.1f} / {load_after:.1f}", errors))
    print(f"level {level}: {ok[0] / elapsed:.1f} ok probes/s, {total} probes, errors {errors}, "
          f"CPU per probe: pageinspect {cpu_pi:.0f} ms, browsers {cpu_browser:.0f} ms: "
          + ", ".join(f"{k} {v:.1f}" for k, v in sorted(by_type.items(), key=lambda kv: -kv[1])),
          file=sys.stderr, flush=True)

with open(f"/proc/{pi_pid}/status") as f:
    hwm = next((int(l.split()[1]) for l in f if l.startswith("VmHWM:")), 0) / 1024

print()
print("| in flight | browser probes/s | probes | success | p50 ms | p99 ms "
      "| peak pool RSS sum MiB | peak pool PSS MiB | browser CPU ms/probe | load avg start / end |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for level, rate, total, succ, p50, p99, mem, pss, cpu, load, errors in rows:
    print(f"| {level} | {rate:.1f} | {total} | {succ:.1f}% | {p50:.0f} | {p99:.0f} | {mem:.0f} "
          f"| {pss:.0f} | {cpu:.0f} | {load} |")
best = max(r[1] for r in rows)
print()
print(f"Best sustained: {best:.1f} browser probes/s (target >= {target:.0f}/s: "
      f"{'met' if best >= target else 'NOT met'}); pageinspect peak RSS {hwm:.0f} MiB.")
PY

# --- pageinspect -----------------------------------------------------------------------------
# Starts the pageinspect binary $2, runs every level against it under the label $1, stops it.
bench_build() {
    local label=$1 bin=$2
    PI_PORT=$(free_port 18481)
    mkdir -p "$WORK/logs/$label"
    # The driver calls without credentials; builds that know auth.allow_anonymous need it said.
    AUTH_ENV=()
    grep -q allow_anonymous "$bin" && AUTH_ENV=(HAS_AUTH__ALLOW_ANONYMOUS=true)
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" "${AUTH_ENV[@]}" \
        HAS_SERVER__LISTEN="127.0.0.1:$PI_PORT" \
        HAS_LOG__DIR="$WORK/logs/$label" HAS_LOG__STDOUT=false \
        HAS_LOG__LEVEL="${BENCH_LOG_LEVEL:-info}" \
        HAS_BROWSER__POOL_SIZE="$POOL" HAS_BROWSER__MAX_CONCURRENT_PAGES="$PAGES" \
        HAS_BROWSER__EXECUTABLE="$CHROMIUM" \
        "$bin" >"$WORK/logs/$label.out" 2>&1 &
    PI_PID=$!
    PIDS+=("$PI_PID")
    wait_http "http://127.0.0.1:$PI_PORT/healthz" 30 "$PI_PID"
    log "$label: nginx :$NGINX_PORT, pageinspect pid $PI_PID :$PI_PORT, pool $POOL x $PAGES pages"
    echo
    echo "### $label ($bin)"
    BENCH_DIR="$BENCH_DIR" python3 "$WORK/driver.py" "$PI_PORT" "$NGINX_PORT" "$DURATION" "$TARGET_RATE" "$PI_PID" \
        $LEVELS
    kill -TERM "$PI_PID" 2>/dev/null || true
    wait "$PI_PID" 2>/dev/null || true
}

if [[ -n "$BASELINE" ]]; then
    [[ -x "$BASELINE" ]] || die "no executable $BASELINE"
    # Alternating, so that a change of the machine's load hits both builds alike.
    for round in $(seq "$ROUNDS"); do
        bench_build "baseline-$round" "$BASELINE"
        bench_build "current-$round" "$PAGEINSPECT"
    done
else
    bench_build current "$PAGEINSPECT"
fi
