"""One level of bench/playwright.sh: N checks in flight for D seconds, through pageinspect's
batch API or through the Playwright loop (loop.mjs), with the CPU of the side's process tree.

  compare.py pageinspect PORT PID URL N D IDLE_MS
  compare.py playwright EXECUTABLE URL N D IDLE_MS

Prints one JSON line: checks ok/failed, per second, p50/p99 ms, CPU ms per check of the root
process (pageinspect or node), of its browsers, and of this driver (the pageinspect side's
HTTP client, outside the measured tree; the Playwright side drives from inside node).
"""
import json, os, resource, subprocess, sys, threading, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from proctree import CpuMeter, pct  # noqa: E402


def own_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_pageinspect(port, pid, url, n, duration, idle_ms):
    api = f"http://127.0.0.1:{port}/api/v1/probes:batch"
    spec = {"kind": "browser", "target": url, "timeout_ms": 15000,
            "network_idle_quiet_ms": idle_ms,
            "conditions": ["[STATUS] == 200", "[DOM_TEXT].h1 == Ready", "[JS_ERRORS] == 0"]}
    body = json.dumps({"probes": [spec]}).encode()

    def post():
        req = urllib.request.Request(api, data=body, headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)["results"]

    for _ in range(4):  # warm up: the browser starts on first use
        post()
    result = {"ok": 0, "failed": 0, "errors": {}, "durations_ms": []}
    lock = threading.Lock()
    meter, driver_before = CpuMeter(pid), own_cpu()
    started = time.monotonic()
    stop_at = started + duration

    def worker():
        while time.monotonic() < stop_at:
            t = time.monotonic()
            try:
                r = post()[0]
                why = None if r["success"] else r.get("failure_reason", "?")
            except Exception as e:  # a refused or failed call counts as a failure
                why = type(e).__name__
            with lock:
                result["durations_ms"].append((time.monotonic() - t) * 1000)
                if why:
                    result["failed"] += 1
                    result["errors"][why] = result["errors"].get(why, 0) + 1
                else:
                    result["ok"] += 1

    sample(worker, n, stop_at, meter)
    return finish(result, meter, time.monotonic() - started, own_cpu() - driver_before)


def run_playwright(exe, url, n, duration, idle_ms):
    here = os.path.dirname(os.path.abspath(__file__))
    node = subprocess.Popen(["node", os.path.join(here, "loop.mjs"), exe, url, str(n),
                             str(duration), str(idle_ms)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert node.stdout.readline().strip() == "ready", "the Playwright loop did not start"
        meter = CpuMeter(node.pid)
        started = time.monotonic()
        node.stdin.write("go\n")
        node.stdin.close()
        lines = []
        reader = threading.Thread(target=lambda: lines.append(node.stdout.readline()))
        reader.start()
        sample(None, 0, started + duration, meter)
        reader.join(duration + 60)
        # Measured once the loop's last checks are done, before its browser closes.
        elapsed = time.monotonic() - started
        result = json.loads(lines[0])
        return finish(result, meter, elapsed, 0.0)
    finally:
        node.wait(timeout=30)


def sample(worker, n, stop_at, meter):
    """Runs `n` workers until `stop_at`, sampling the process tree every second meanwhile."""
    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    while time.monotonic() < stop_at:
        meter.sample()
        time.sleep(min(1.0, max(0.0, stop_at - time.monotonic())))
    for t in threads:
        t.join()


def finish(result, meter, elapsed, driver_seconds):
    root_s, browsers_s, _ = meter.finish()
    total = max(result["ok"] + result["failed"], 1)
    d = result["durations_ms"]
    return {"ok": result["ok"], "failed": result["failed"], "errors": result["errors"],
            "per_s": result["ok"] / elapsed, "p50_ms": pct(d, 50), "p99_ms": pct(d, 99),
            "root_cpu_ms": root_s * 1000 / total, "browser_cpu_ms": browsers_s * 1000 / total,
            "driver_cpu_ms": driver_seconds * 1000 / total, "load": os.getloadavg()[0]}


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "pageinspect":
        out = run_pageinspect(a[2], int(a[3]), a[4], int(a[5]), float(a[6]), int(a[7]))
    else:
        out = run_playwright(a[2], a[3], int(a[4]), float(a[5]), int(a[6]))
    print(json.dumps(out))
