#!/usr/bin/env python3
"""Creates monitors through acmangkut's API with a few concurrent keep-alive connections.

Usage: seed.py BASE_URL COUNT TARGET_URL [--interval S] [--concurrency N] [--prefix P]
               [--deadline SECONDS] [--due-file OUT]
Prints one JSON line: {"created": n, "errors": n, "seconds": s, "min_id": a, "max_id": b}.
`{i}` in TARGET_URL becomes the monitor's number (0…COUNT-1); --due-file writes
{"<number>": first due time in ms since the epoch} from each created monitor's `next_run_at`
(its runs are due on that time's grid: + k × interval).
Standard library only; bounded by --deadline.
"""

import argparse
import datetime
import http.client
import json
import sys
import threading
import time
import os
import urllib.parse


def due_ms(stamp: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 time (`…Z` or with an offset)."""
    return round(datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("count", type=int)
    ap.add_argument("target")
    ap.add_argument("--interval", type=int, default=60)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--prefix", default="bench")
    ap.add_argument("--deadline", type=float, default=600.0)
    ap.add_argument("--due-file")
    args = ap.parse_args()

    url = urllib.parse.urlsplit(args.base)
    lock = threading.Lock()
    state = {"next": 0, "created": 0, "errors": 0, "ids": [], "due": {}}
    start = time.monotonic()
    stop_at = start + args.deadline

    def take():
        with lock:
            if state["next"] >= args.count or time.monotonic() > stop_at:
                return None
            state["next"] += 1
            return state["next"] - 1

    def worker() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        ids, due = [], {}
        while (i := take()) is not None:
            body = json.dumps(
                {
                    "name": f"{args.prefix}-{i:06d}",
                    "interval_seconds": args.interval,
                    "probe": {
                        "kind": "http",
                        "target": args.target.replace("{i}", str(i)),
                        "timeout_ms": 2000,
                    },
                }
            )
            try:
                conn.request(
                    "POST",
                    "/api/v1/monitors",
                    body=body,
                    headers={
                        "Content-Type": "application/json",
                        # acmangkut's bootstrap token, as bench/lib.sh starts it.
                        "Authorization": "Bearer " + os.environ.get("BENCH_TOKEN", ""),
                    },
                )
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 201:
                    created = json.loads(data)
                    ids.append(created["id"])
                    due[i] = due_ms(created["next_run_at"])
                else:
                    with lock:
                        state["errors"] += 1
                    if state["errors"] <= 3:
                        print(f"create {i}: {resp.status} {data[:200]!r}", file=sys.stderr)
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    state["errors"] += 1
                print(f"create {i}: {e}", file=sys.stderr)
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.close()
        with lock:
            state["ids"].extend(ids)
            state["due"].update(due)
            state["created"] += len(ids)

    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = state["ids"]
    if args.due_file:
        with open(args.due_file, "w") as f:
            json.dump(state["due"], f)
    print(
        json.dumps(
            {
                "created": state["created"],
                "errors": state["errors"],
                "seconds": round(time.monotonic() - start, 2),
                "min_id": min(ids) if ids else None,
                "max_id": max(ids) if ids else None,
            }
        )
    )
    return 0 if state["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
