#!/usr/bin/env python3
"""Measures acmangkut's scheduler over a time window and prints markdown tables.

Usage: sched_measure.py METRICS_URL WINDOW_SECONDS NAME=PID[+PID...] ... [--db PATH]
                        [--json OUT] [--sample 1]
                        [--access-log PATH --due-file PATH --interval SECONDS]

Over the window it takes the deltas of:
  has_scheduler_probes_total{result}   -> probes/s
  has_scheduler_lag_seconds buckets    -> lag p50/p90/p99 (interpolated within buckets)
  has_scheduler_dispatch_seconds       -> dispatch p50/p99 and mean
  has_controllermanager_failure_total, has_scheduler_backoffs_total, has_scheduler_leases_lost_total
  /proc/PID/stat utime+stime           -> CPU seconds per process (and per thread name)
and samples has_scheduler_in_flight_batches every --sample seconds. Peak RSS is VmHWM.
The lag p99 is also given as the bucket edge it falls under (no interpolation).

With --access-log (the target's log: "<arrival epoch seconds> <monitor number>" per request),
--due-file (seed.py's first due time of each monitor number) and --interval, it also counts
when each probe reached the target in the window against when it was due (the latest grid
time `first due + k × interval` at or before its arrival, 1 s of slack for clocks): the
distribution of that lateness, and the seconds of the window in which probes arrived over 1 s
late (bursts), with the gaps between bursts.
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


def edge_quantile(b0, b1, q):
    """The upper edge of the bucket the quantile falls in: a bound read off the histogram."""
    delta = [(le, c1 - c0) for (le, c1), (_, c0) in zip(b1, b0)]
    count = delta[-1][1] if delta else 0
    if count <= 0:
        return None
    return next(le for le, c in delta if c >= q * count)


LATE_EDGES = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0]


def arrivals(access_log, due_file, interval, start, end):
    """Lateness in seconds of each request that arrived in [start, end), with its arrival."""
    with open(due_file) as f:
        due = {int(k): v / 1000 for k, v in json.load(f).items()}
    out = []
    with open(access_log) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                continue
            t, m = float(parts[0]), int(parts[1])
            if not start <= t < end or m not in due:
                continue
            # Up to 1 s early counts as on time (nginx's and acmangkut's clocks, rounding).
            k = (t - due[m] + 1.0) // interval
            out.append((t, t - (due[m] + k * interval)))
    return out, len(due)


def lateness_report(samples, start, end, interval, monitors):
    late = sorted(x for _, x in samples)
    n = len(late)
    expected = monitors * (end - start) / interval
    if n == 0:
        print("\naccess log: no probes arrived in the window")
        return {}

    def pct(q):
        return late[min(n - 1, int(q * n))]

    r = {
        "arrivals": n,
        "due": expected,
        "late_p50": pct(0.50),
        "late_p90": pct(0.90),
        "late_p99": pct(0.99),
        "late_p999": pct(0.999),
        "late_max": late[-1],
        "late_over_1s": sum(1 for x in late if x > 1.0),
    }
    print(f"\naccess log of the target: {n} probes arrived in the window", end=" ")
    print(f"({expected:.0f} were due: {monitors} monitors every {interval:g} s)\n")
    print("| lateness at the target (arrival − due) | probes | share |")
    print("| --- | ---: | ---: |")
    lo = None
    for hi in LATE_EDGES + [None]:
        c = sum(1 for x in late if (lo is None or x > lo) and (hi is None or x <= hi))
        label = f"≤ {hi:g} s" if lo is None else (f"> {lo:g} s" if hi is None else f"{lo:g} – {hi:g} s")
        print(f"| {label} | {c} | {100 * c / n:.2f} % |")
        lo = hi
    print(
        f"\nlateness p50 / p90 / p99 / p99.9 / max s: {r['late_p50']:.3f} / {r['late_p90']:.3f} / "
        f"{r['late_p99']:.3f} / {r['late_p999']:.3f} / {r['late_max']:.3f}; "
        f"over 1 s late: {r['late_over_1s']} ({100 * r['late_over_1s'] / n:.2f} %)"
    )
    per_second = collections.Counter(int(t - start) for t, x in samples if x > 1.0)
    if per_second:
        # Seconds with late arrivals, merged into bursts when under 5 s apart.
        bursts = []
        for sec in sorted(per_second):
            if bursts and sec - bursts[-1][1] < 5:
                bursts[-1] = (bursts[-1][0], sec, bursts[-1][2] + per_second[sec])
            else:
                bursts.append((sec, sec, per_second[sec]))
        gaps = [b[0] - a[0] for a, b in zip(bursts, bursts[1:])]
        print(
            "bursts of probes over 1 s late (second of the window: probes): "
            + ", ".join(f"{a}–{b}: {c}" for a, b, c in bursts)
        )
        print(f"gaps between burst starts, s: {gaps if gaps else '—'}")
        r["bursts"] = bursts
        r["burst_gaps"] = gaps
    else:
        print("no probe arrived over 1 s late")
    return r


def tcp_counters():
    """Kernel TCP counters of this network namespace (every process's, not only the bench's)."""
    out = {}
    for path in ("/proc/net/netstat", "/proc/net/snmp"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for names, values in zip(lines[::2], lines[1::2]):
            prefix, names = names.split(":", 1)
            for n, v in zip(names.split(), values.split(":", 1)[1].split()):
                out[f"{prefix}.{n}"] = int(v)
    return out


TCP_SHOWN = ("TcpExt.ListenOverflows", "TcpExt.ListenDrops", "Tcp.RetransSegs", "Tcp.AttemptFails")


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
    ap.add_argument("--access-log")
    ap.add_argument("--due-file")
    ap.add_argument("--interval", type=float)
    args = ap.parse_args()

    procs = {}
    for p in args.procs:
        name, pids = p.split("=", 1)
        procs[name] = [int(x) for x in pids.split("+") if x]

    def cpu_all():
        return {n: sum(proc_cpu(p) for p in pids) for n, pids in procs.items()}

    ac_pid = procs.get("acmangkut", [None])[0]
    tcp0 = tcp_counters()
    wall0 = time.time()
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
    wall1 = time.time()
    tcp1 = tcp_counters()
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
        "lag_p99_edge": edge_quantile(lag_b0, lag_b1, 0.99),
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
    print(f"| lag p99 at most (bucket edge) s | {fmt(r['lag_p99_edge'])} |")
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
    r["tcp"] = {k: tcp1.get(k, 0) - tcp0.get(k, 0) for k in TCP_SHOWN}
    print(
        "\nkernel TCP counters over the window (whole machine, other processes' traffic too): "
        + ", ".join(f"{k} +{v}" for k, v in r["tcp"].items())
    )
    if args.access_log:
        time.sleep(2)  # nginx flushes its access log buffer every second
        samples, monitors = arrivals(
            args.access_log, args.due_file, args.interval, wall0, wall1
        )
        r["access_log"] = lateness_report(samples, wall0, wall1, args.interval, monitors)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
