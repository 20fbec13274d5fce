#!/usr/bin/env python3
"""Measures acmangkut's scheduler over a time window and prints markdown tables.

Usage: sched_measure.py METRICS_URL WINDOW_SECONDS NAME=PID[+PID...] ... [--db PATH]
                        [--json OUT] [--sample 1]

Over the window it takes the deltas of:
  has_scheduler_probes_total{result}   -> probes/s
  has_scheduler_lag_seconds buckets    -> lag p50/p90/p99 (interpolated within buckets)
  has_scheduler_dispatch_seconds       -> dispatch p50/p99 and mean
  has_controllermanager_failure_total, has_scheduler_backoffs_total, has_scheduler_leases_lost_total
  /proc/PID/stat utime+stime           -> CPU seconds per process (and per thread name)
and samples has_scheduler_in_flight_batches every --sample seconds. Peak RSS is VmHWM.
Standard library only; bounded by the window.
"""

import argparse
import collections
import json
import os
import re
import sys
import time
import urllib.request

TCK = os.sysconf("SC_CLK_TCK")
LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = LINE.match(line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def total(snap, name):
    return sum(v for (n, _), v in snap.items() if n == name)


def labelled(snap, name):
    return {lbl: v for (n, lbl), v in snap.items() if n == name}


def buckets(snap, name):
    """[(upper_bound, cumulative_count)] sorted, +Inf last."""
    res = []
    for (n, lbl), v in snap.items():
        if n == name + "_bucket":
            le = re.search(r'le="([^"]+)"', lbl).group(1)
            res.append((float("inf") if le == "+Inf" else float(le), v))
    return sorted(res)


def quantile(b0, b1, q):
    """Quantile from the delta of two cumulative bucket lists, like histogram_quantile()."""
    delta = [(le, c1 - c0) for (le, c1), (_, c0) in zip(b1, b0)]
    count = delta[-1][1] if delta else 0
    if count <= 0:
        return None
    rank = q * count
    prev_le, prev_c = 0.0, 0.0
    for le, c in delta:
        if c >= rank:
            if le == float("inf"):
                return prev_le  # beyond the last finite bucket: report its bound (a floor)
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return prev_le


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TCK


def thread_cpu(pid):
    by_name = collections.Counter()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return by_name
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.index("(") + 1 : s.rindex(")")]
        name = re.sub(r"[-_ ]?\d+$", "", name)
        rest = s.rsplit(")", 1)[1].split()
        by_name[name] += (int(rest[11]) + int(rest[12])) / TCK
    return by_name


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fmt(v, unit=""):
    return "—" if v is None else f"{v:.3f}{unit}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("metrics_url")
    ap.add_argument("window", type=float)
    ap.add_argument("procs", nargs="+", help="NAME=PID[+PID...]")
    ap.add_argument("--db", help="SQLite file whose size (with -wal) is reported")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--sample", type=float, default=1.0)
    args = ap.parse_args()

    procs = {}
    for p in args.procs:
        name, pids = p.split("=", 1)
        procs[name] = [int(x) for x in pids.split("+") if x]

    def cpu_all():
        return {n: sum(proc_cpu(p) for p in pids) for n, pids in procs.items()}

    ac_pid = procs.get("acmangkut", [None])[0]
    s0, c0, w0 = scrape(args.metrics_url), cpu_all(), time.monotonic()
    th0 = thread_cpu(ac_pid) if ac_pid else {}
    in_flight, per_interval, last_probes, last_t = [], [], total(s0, "has_scheduler_probes_total"), w0
    end = w0 + args.window
    while True:
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(args.sample, end - now))
        s = scrape(args.metrics_url)
        t = time.monotonic()
        in_flight.append(total(s, "has_scheduler_in_flight_batches"))
        p = total(s, "has_scheduler_probes_total")
        per_interval.append((p - last_probes) / (t - last_t))
        last_probes, last_t = p, t
    s1, c1, w1 = scrape(args.metrics_url), cpu_all(), time.monotonic()
    th1 = thread_cpu(ac_pid) if ac_pid else {}
    secs = w1 - w0

    probes = total(s1, "has_scheduler_probes_total") - total(s0, "has_scheduler_probes_total")
    by_result = {
        re.sub(r'.*result="([^"]+)".*', r"\1", k): v - labelled(s0, "has_scheduler_probes_total").get(k, 0)
        for k, v in labelled(s1, "has_scheduler_probes_total").items()
    }
    lag_b0, lag_b1 = buckets(s0, "has_scheduler_lag_seconds"), buckets(s1, "has_scheduler_lag_seconds")
    dis_b0, dis_b1 = (
        buckets(s0, "has_scheduler_dispatch_seconds"),
        buckets(s1, "has_scheduler_dispatch_seconds"),
    )
    lag_count = total(s1, "has_scheduler_lag_seconds_count") - total(s0, "has_scheduler_lag_seconds_count")
    lag_sum = total(s1, "has_scheduler_lag_seconds_sum") - total(s0, "has_scheduler_lag_seconds_sum")
    dis_count = total(s1, "has_scheduler_dispatch_seconds_count") - total(
        s0, "has_scheduler_dispatch_seconds_count"
    )
    dis_sum = total(s1, "has_scheduler_dispatch_seconds_sum") - total(s0, "has_scheduler_dispatch_seconds_sum")

    def d(name):
        return total(s1, name) - total(s0, name)

    r = {
        "window_seconds": round(secs, 1),
        "probes": probes,
        "probes_per_second": probes / secs,
        "probes_by_result": by_result,
        "per_second_min": min(per_interval) if per_interval else None,
        "per_second_max": max(per_interval) if per_interval else None,
        "claims": lag_count,
        "lag_p50": quantile(lag_b0, lag_b1, 0.50),
        "lag_p90": quantile(lag_b0, lag_b1, 0.90),
        "lag_p99": quantile(lag_b0, lag_b1, 0.99),
        "lag_mean": lag_sum / lag_count if lag_count else None,
        "batches": dis_count,
        "dispatch_p50": quantile(dis_b0, dis_b1, 0.50),
        "dispatch_p99": quantile(dis_b0, dis_b1, 0.99),
        "dispatch_mean": dis_sum / dis_count if dis_count else None,
        "in_flight_mean": sum(in_flight) / len(in_flight) if in_flight else None,
        "in_flight_max": max(in_flight) if in_flight else None,
        "failures": d("has_controllermanager_failure_total"),
        "backoffs": d("has_scheduler_backoffs_total"),
        "leases_lost": d("has_scheduler_leases_lost_total"),
        "cpu_seconds": {n: c1[n] - c0[n] for n in procs},
        "peak_rss_mib": {n: max(peak_rss_mib(p) for p in pids) for n, pids in procs.items()},
        "acmangkut_threads_cpu": {
            k: round(v - th0.get(k, 0), 2) for k, v in sorted(th1.items(), key=lambda kv: -kv[1])
        },
    }
    if args.db:
        r["db_mib"] = sum(
            os.path.getsize(p) for p in (args.db, args.db + "-wal") if os.path.exists(p)
        ) / 2**20

    print(f"window: {secs:.1f} s\n")
    print("| metric | value |")
    print("| --- | ---: |")
    print(f"| probes/s recorded (target 1000) | {r['probes_per_second']:.1f} |")
    print(
        f"| probes/s per {args.sample:g} s sample, min – max | "
        f"{fmt(r['per_second_min'])} – {fmt(r['per_second_max'])} |"
    )
    print(f"| probes by result | {', '.join(f'{k} {v:.0f}' for k, v in sorted(by_result.items()))} |")
    print(f"| lag p50 / p90 / p99 s (target p99 < 1) | {fmt(r['lag_p50'])} / {fmt(r['lag_p90'])} / {fmt(r['lag_p99'])} |")
    print(f"| lag mean s | {fmt(r['lag_mean'])} |")
    print(f"| batches dispatched | {dis_count:.0f} ({probes / dis_count if dis_count else 0:.1f} probes per batch) |")
    print(
        f"| dispatch (probe + record) p50 / p99 / mean s | {fmt(r['dispatch_p50'])} / "
        f"{fmt(r['dispatch_p99'])} / {fmt(r['dispatch_mean'])} |"
    )
    print(f"| in-flight batches mean / max | {fmt(r['in_flight_mean'])} / {fmt(r['in_flight_max'])} |")
    print(f"| controllermanager failures | {r['failures']:.0f} |")
    print(f"| 429 back-offs / leases lost | {r['backoffs']:.0f} / {r['leases_lost']:.0f} |")
    if "db_mib" in r:
        print(f"| SQLite file + WAL at end, MiB | {r['db_mib']:.1f} |")
    print()
    print("| process | CPU seconds | CPU cores (avg) | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: |")
    for n in procs:
        cs = r["cpu_seconds"][n]
        print(f"| {n} | {cs:.1f} | {cs / secs:.2f} | {r['peak_rss_mib'][n]:.1f} |")
    if r["acmangkut_threads_cpu"]:
        print()
        print(
            "acmangkut CPU seconds by thread name: "
            + ", ".join(f"{k} {v:.1f}" for k, v in r["acmangkut_threads_cpu"].items() if v >= 0.05)
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
